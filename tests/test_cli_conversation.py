"""A conversation scripted from the command line, as the chat page holds one: the first `chatbot ask`
prints a conversation id, `--conversation ID` continues it, and the follow-up is read against the
recorded turns (rewritten into a stand-alone question that still asks the new thing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings

pytestmark = pytest.mark.slow  # the chatbot command answering with the real model

BIN = Path(sys.executable).parent
REFUNDS = b"# Refunds\n\nWe refund your payment within 3 business days after we receive your return.\n"
TRACKING = (b"# Tracking a parcel\n\nTo track a parcel, open Orders in the app and tap Track: the carrier's "
            b"tracking number and the delivery estimate are shown there.\n")


def chatbot(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(settings.home), "CHATBOT_CHAT_MODEL": settings.chat_model,
           "CHATBOT_MAX_NEW_TOKENS": "32", "CHATBOT_KB_DIR": str(settings.kb_dir),
           "CHATBOT_VERIFY_ANSWERS": str(settings.verify_answers), "CHATBOT_ANSWER_STYLE": settings.answer_style}
    env.pop("CHATBOT_ADMIN_PASSWORD", None)
    return subprocess.run([str(BIN / "chatbot"), *args], env=env, capture_output=True, text=True, timeout=600)


def test_follow_up_continues_a_recorded_conversation(tmp_path):
    settings = make_settings(tmp_path / "home")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_bytes(REFUNDS)
    (docs / "tracking.md").write_bytes(TRACKING)
    assert chatbot(settings, "ingest", str(docs)).returncode == 0

    first = chatbot(settings, "ask", "How long do refunds take after you receive my return?", "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    one = json.loads(first.stdout)
    conversation = one["conversation_id"]
    assert conversation and one["sources"][0]["doc_id"] == "refunds"

    second = chatbot(settings, "ask", "and how do I track it?", "--conversation", conversation, "--json")
    assert second.returncode == 0, second.stderr[-2000:]
    two = json.loads(second.stdout)
    assert two["conversation_id"] == conversation
    assert "track" in two["standalone_question"].lower()  # still asks the new thing...
    assert two["standalone_question"] != "and how do I track it?"  # ...read against the conversation
    # both turns are recorded in order, and are what a third message would be read against
    from chatbot.service import make_service

    recorded = make_service(settings).history(conversation)
    assert [t.role for t in recorded] == ["user", "assistant", "user", "assistant"]
    assert recorded[0].content.startswith("How long do refunds") and recorded[2].content == "and how do I track it?"
    assert recorded[3].content == two["answer"]

    # the plain-text form prints the id to continue with; an unknown id starts afresh, a bad one is refused
    plain = chatbot(settings, "ask", "How do I track a parcel?")
    assert plain.returncode == 0 and "--conversation " in plain.stdout
    bad = chatbot(settings, "ask", "hello", "--conversation", "has spaces in it")
    assert bad.returncode == 2 and "conversation id" in bad.stderr


def test_asking_an_empty_knowledge_base_says_how_to_fill_it(tmp_path):
    settings = make_settings(tmp_path / "home")
    result = chatbot(settings, "ask", "How long do refunds take?", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["refused"]
    assert "knowledge base is empty" in result.stderr and "chatbot ingest" in result.stderr
