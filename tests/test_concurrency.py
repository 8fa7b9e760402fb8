"""Many sessions at once on one shared model: each gets its own answer, nobody deadlocks, and an upload
during the chat neither breaks it nor gets lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from streamlit.testing.v1 import AppTest

from chatbot import conversations
from chatbot.db import open_database
from tests.conftest import ROOT, app_environment

DOCS = {f"product-{i}.md": f"# Product P-{i}00\n\n## Price\n\nThe P-{i}00 gadget costs {i}9 dollars.\n".encode()
        for i in range(1, 6)}


def test_ten_parallel_questions_and_an_upload(service):
    for name, data in DOCS.items():
        service.ingest_bytes(name, data)
    questions = [f"How much does the P-{(i % 5) + 1}00 gadget cost?" for i in range(10)]
    with ThreadPoolExecutor(max_workers=11) as pool:
        answers = [pool.submit(service.ask, q) for q in questions]
        upload = pool.submit(service.ingest_bytes, "late.md", b"# Late arrival\n\nThe L-1 lamp costs 5 dollars.")
        results = [f.result(timeout=600) for f in answers]
        assert upload.result(timeout=600).status == "indexed"
    for question, answer in zip(questions, results, strict=True):
        assert answer.question == question
        product = question.split()[4]  # "P-300"
        assert answer.sources and answer.sources[0].title == f"Product {product}"
    assert "late" in {d.doc_id for d in service.documents()}
    assert service.retriever.retrieve("L-1 lamp price")[0].doc_id == "late"


@pytest.mark.slow  # the chat page on the real models
def test_app_sessions_keep_their_own_conversations(monkeypatch, tmp_path):
    with app_environment(tmp_path, monkeypatch, DOCS, 12) as settings:
        sessions = [AppTest.from_file(str(ROOT / "chatbot" / "ui" / "app.py"), default_timeout=300).run()
                    for _ in range(3)]
        for number, at in enumerate(sessions, start=1):
            at.chat_input[0].set_value(f"How much does the P-{number}00 gadget cost?").run()
        for number, at in enumerate(sessions, start=1):
            users = [m for m in at.chat_message if m.name == "user"]
            assert len(users) == 1
            assert f"P\\-{number}00" in users[0].markdown[0].value
        # Each session's turns are recorded under its own conversation id, and read back from the database.
        engine = open_database(settings.effective_database_url)
        ids = [at.session_state["conversation_id"] for at in sessions]
        assert len(set(ids)) == 3
        for number, conversation_id in enumerate(ids, start=1):
            stored = conversations.messages(engine, conversation_id)
            assert [m.role for m in stored] == ["user", "assistant"]
            assert stored[0].text == f"How much does the P-{number}00 gadget cost?"
            assert stored[1].mode == "rag"
            assert stored[1].refused or stored[1].sources[0]["title"] == f"Product P-{number}00"
        engine.dispose()
