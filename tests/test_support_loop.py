"""The support team's loop on fake models (issue 28): curated answers take priority and are cited, a request for
a person is answered without the model, hand-offs are stored, signed and retried against a real local HTTP
receiver, insights group declined questions into gaps, retention and deletion remove contacts, exports hold
what was recorded, and every support command follows the admin rule."""

from __future__ import annotations

import csv
import json
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select, update

from chatbot import db, handoffs, insights
from chatbot.cli import main
from tests.conftest import make_settings
from tests.webhook import WebhookReceiver

RETURNS = b"# Returns\n\n## Window\n\nYou can return any item within 30 days of delivery for a full refund.\n"


def test_curated_answer_is_a_cited_kb_document_and_wins_over_the_model(fake_service, echo_model):
    fake_service.ingest_bytes("returns.md", RETURNS)
    item = fake_service.add_curated("Can I pay for my order by cheque?", "No: we accept cards and PayPal only.")
    [doc] = [d for d in fake_service.documents() if d.doc_id == item.doc_id]
    assert doc.doc_type == "curated" and doc.source == f"curated/{item.id}" and doc.title.startswith("Can I pay")

    calls = len(echo_model.calls)
    answer = fake_service.ask("can i pay for an order by cheque", conversation_id="c1")
    assert answer.text == "No: we accept cards and PayPal only. [1]" and not answer.refused
    assert answer.model == insights.CURATED_MODEL and answer.sources[0].doc_id == item.doc_id
    assert answer.sources[0].snippet == "No: we accept cards and PayPal only."
    assert len(echo_model.calls) == calls  # no model call
    assert fake_service.ask("How many days do I have to return an item?").model == "echo"  # RAG unchanged

    assert fake_service.delete_document(item.doc_id)  # deleted on the Documents page: no longer in force
    assert fake_service.curated_answers() == []
    assert fake_service.ask("can i pay for an order by cheque").model != insights.CURATED_MODEL


def test_topic_set_to_hand_off_and_requests_for_a_person_skip_the_model(fake_service, echo_model):
    fake_service.ingest_bytes("returns.md", RETURNS)
    fake_service.add_curated("I want to cancel my contract", action="handoff")
    calls = len(echo_model.calls)
    topic = fake_service.ask("i want to cancel my contract now")
    person = fake_service.ask("Can I talk to someone?")
    assert topic.refused and topic.model == person.model == insights.PERSON_MODEL
    assert "support team" in person.text and not person.refused
    assert fake_service.wants_person("can I talk to someone?") and not fake_service.wants_person("refund window?")
    assert len(echo_model.calls) == calls


def test_contact_never_reaches_a_prompt(fake_service, echo_model):
    fake_service.ingest_bytes("returns.md", RETURNS)
    fake_service.ask("What is the capital of Australia?", conversation_id="c1")
    fake_service.request_handoff("c1", "ana.secret@example.com", "call me after 5pm")
    history = fake_service.history("c1")
    fake_service.ask("How many days do I have to return an item?", history, conversation_id="c1")
    prompts = " ".join(str(m.content) for call in echo_model.calls for m in call)
    assert "ana.secret" not in prompts and "after 5pm" not in prompts
    assert "ana.secret" not in json.dumps([m.text for m in fake_service.conversation("c1")])


def test_handoff_is_stored_then_delivered_signed_and_retried_until_the_helpdesk_is_up(tmp_path, echo_model,
                                                                                       hashed_embeddings):
    from chatbot.service import make_service

    receiver = WebhookReceiver(secret="shared-secret")
    port = receiver.start()
    receiver.stop()  # the helpdesk is down when the customer asks
    settings = make_settings(tmp_path / "home", handoff_webhook_url=f"http://127.0.0.1:{port}/hook",
                             handoff_webhook_secret="shared-secret", handoff_retry_s=0.2)
    service = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
    try:
        service.ask("What is the capital of Australia?", conversation_id="conv-1")
        with pytest.raises(Exception, match="email address or a phone"):
            service.request_handoff("conv-1", "not a contact")
        handoff_id = service.request_handoff("conv-1", "ana@example.com", "Please call", reason="declined")
        _wait(lambda: service.handoffs()[0].attempts >= 2)
        queued = service.handoffs("open")[0]
        assert queued.id == handoff_id and queued.delivery == "pending" and queued.contact == "ana@example.com"
        assert all(not a.ok and a.error for a in service.handoff_attempts(handoff_id))

        receiver.start(port)  # back up: the retry loop delivers it
        _wait(lambda: service.handoffs()[0].delivery == "delivered")
        [request] = receiver.received
        assert request["valid_signature"]
        body = request["json"]
        assert body["contact"] == "ana@example.com" and body["message"] == "Please call"
        assert [m["role"] for m in body["conversation"]] == ["user", "assistant"]
        assert body["conversation"][1]["declined"] is True and "sources" in body["conversation"][1]
        assert service.handoff_attempts(handoff_id)[-1].ok
        assert service.set_handoff_status(handoff_id, "resolved") and service.handoffs("open") == []
    finally:
        service.stop_background()
        receiver.stop()


def test_a_restarted_server_sends_what_was_pending(tmp_path, echo_model, hashed_embeddings):
    from chatbot.service import make_service

    receiver = WebhookReceiver(secret="k")
    port = receiver.start()
    receiver.stop()
    settings = make_settings(tmp_path / "home", handoff_webhook_url=f"http://127.0.0.1:{port}/",
                             handoff_webhook_secret="k", handoff_retry_s=0.2)
    before = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
    before.ask("What is the capital of Australia?", conversation_id="c1")
    before.request_handoff("c1", "ana@example.com")
    _wait(lambda: before.handoffs()[0].attempts >= 1)
    before.stop_background()  # the server stops with the hand-off undelivered

    receiver.start(port)
    after = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
    try:
        after.start_background()  # what the web app does at start
        _wait(lambda: after.handoffs()[0].delivery == "delivered")
        assert len(receiver.received) == 1 and receiver.received[0]["valid_signature"]
    finally:
        after.stop_background()
        receiver.stop()


def test_signature_and_backoff():
    body = b'{"x": 1}'
    assert handoffs.verify("k", body, handoffs.sign("k", body))
    assert not handoffs.verify("k", body + b" ", handoffs.sign("k", body))
    assert handoffs.backoff_s(1, 30) == 30 and handoffs.backoff_s(3, 30) == 120


def test_insights_group_declined_questions_and_resolve_them_with_a_curated_answer(fake_service):
    fake_service.ingest_bytes("returns.md", RETURNS)
    questions = ["How do I pay by cheque?", "Can I pay with a cheque?", "pay by cheque possible?",
                 "Do you ship to Mars?", "How many days do I have to return an item?"]
    for n, question in enumerate(questions):
        fake_service.ask(question, conversation_id=f"conv-{n}")
    answered = fake_service.ask("Is there a return window for an item?", conversation_id="conv-9")
    fake_service.rate(answered, -1, "did not say how many days")
    fake_service.request_handoff("conv-3", "+1 555 0100 200", reason="declined")

    report = fake_service.insights(7)
    assert report.questions == 6 and report.conversations == 6
    assert report.totals["declined"] == 4 and report.totals["rated_down"] == 1 and report.totals["handed_off"] == 1
    top = report.gaps[0]
    assert top.count == 3 and "cheque" in top.representative and not top.resolved_by
    assert abs(top.share - 0.5) < 1e-9
    assert any("did not say" in c for s in report.summaries for c in s.comments)
    assert [d.doc_id for d in report.most_cited] == ["returns"]
    assert sum(d.questions for d in report.daily) == 6 and report.daily[-1].ttft_p50_s is not None
    assert [s.id for s in insights.filter_conversations(report.summaries, handed_off=True)] == ["conv-3"]
    assert {s.id for s in insights.filter_conversations(report.summaries, text="CHEQUE")} == {"conv-0", "conv-1",
                                                                                                "conv-2"}

    fake_service.add_curated(top.representative, "We accept cards and PayPal, not cheques.")
    again = fake_service.insights(7)
    assert again.gaps[0].resolved_by == top.representative
    assert json.loads(json.dumps(again.to_dict(conversations=True)))["gaps"][0]["resolved"] is True


def test_cluster_groups_near_vectors_largest_first():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    vectors = np.concatenate([c + 0.05 * rng.normal(size=(n, 32)) for c, n in zip(centres, (5, 2, 8), strict=True)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    groups = insights.cluster(vectors.astype(np.float32), similarity=0.8)
    assert [len(g) for g in groups] == [8, 5, 2]
    assert sorted(i for g in groups for i in g) == list(range(15))


def test_retention_deletes_old_conversations_with_their_contacts(fake_service):
    fake_service.ask("What is the capital of Australia?", conversation_id="old")
    fake_service.ask("What is the capital of France?", conversation_id="new")
    fake_service.request_handoff("old", "old@example.com")
    with fake_service.engine.begin() as conn:
        past = db.now() - timedelta(days=40)
        conn.execute(update(db.messages).where(db.messages.c.conversation_id == "old").values(created_at=past))
        conn.execute(update(db.conversations).where(db.conversations.c.id == "old").values(created_at=past))
    assert fake_service.purge_conversations() == 0  # CHATBOT_RETAIN_DAYS unset: kept
    fake_service.settings.retain_days = 30
    assert fake_service.purge_conversations() == 1
    assert fake_service.conversation("old") == [] and len(fake_service.conversation("new")) == 2
    with fake_service.engine.connect() as conn:
        assert conn.execute(select(db.handoffs)).all() == []
        assert conn.execute(select(db.handoff_attempts)).all() == []


def test_admin_deletes_one_conversation_and_exports(fake_service, tmp_path):
    fake_service.ingest_bytes("returns.md", RETURNS)
    fake_service.ask("How many days do I have to return an item?", conversation_id="keep")
    fake_service.ask("Can I talk to a person?", conversation_id="drop")
    fake_service.request_handoff("drop", "drop@example.com", "hi", reason="asked")
    fake_service.request_handoff("keep", "keep@example.com")

    conv, hand, n_conv, n_hand = fake_service.export_conversations(tmp_path / "x", "jsonl")
    assert (n_conv, n_hand) == (4, 2)
    rows = [json.loads(line) for line in conv.read_text().splitlines()]
    assert {r["conversation_id"] for r in rows} == {"keep", "drop"}
    [kept] = [r for r in rows if r["conversation_id"] == "keep" and r["role"] == "assistant"]
    assert kept["sources"][0]["doc_id"] == "returns" and kept["ttft_s"] is not None

    assert fake_service.delete_conversation("drop") and not fake_service.delete_conversation("drop")
    conv, hand, n_conv, n_hand = fake_service.export_conversations(tmp_path / "y", "csv")
    assert (n_conv, n_hand) == (2, 1)
    with hand.open() as f:
        [row] = list(csv.DictReader(f))
    assert row["contact"] == "keep@example.com" and row["conversation_id"] == "keep"
    with conv.open() as f:
        assert json.loads(list(csv.DictReader(f))[1]["sources"])[0]["doc_id"] == "returns"


@pytest.mark.parametrize("argv", [["insights", "--json"], ["curated", "list"], ["handoffs", "list"],
                                  ["conversations", "export", "--out", "x"], ["conversations", "delete", "c1"],
                                  ["curated", "add", "--question", "q", "--answer", "a"]])
def test_support_commands_follow_the_admin_rule(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "right")
    monkeypatch.delenv("CHATBOT_ADMIN_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", None)
    assert main(argv) == 2
    assert "admin" in capsys.readouterr().err


def test_insights_and_curated_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "right")
    monkeypatch.setenv("CHATBOT_ADMIN_TOKEN", "right")
    monkeypatch.setattr("chatbot.cli.support._service", _fake_service_factory(tmp_path))
    assert main(["curated", "add", "--question", "Can I pay by cheque?", "--answer", "No, cards only.",
                 "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert main(["curated", "list", "--json"]) == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)] == [added["id"]]
    assert main(["insights", "--days", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"] == 3 and report["questions"] == 0 and "gaps" in report
    assert main(["curated", "delete", str(added["id"])]) == 0


def _fake_service_factory(tmp_path):
    from chatbot.service import make_service
    from tests.fakes import EchoChatModel, HashedEmbeddings

    service = make_service(make_settings(tmp_path / "home"), chat_model=EchoChatModel(),
                           embeddings=HashedEmbeddings())
    return lambda: service


def _wait(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
