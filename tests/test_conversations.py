"""Conversations and background jobs in the database, through the service (on fake models: what is tested
is what gets recorded, not what the model says)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from chatbot import db, jobs

DOC = b"# Returns\n\n## Window\n\nYou can return any item within 30 days of delivery for a full refund.\n"


def test_two_conversations_are_stored_separately_and_read_back(fake_service):
    fake_service.ingest_bytes("returns.md", DOC)
    first, second = "conversation-a", "conversation-b"
    fake_service.ask("How many days do I have to return an item?", conversation_id=first)
    fake_service.ask("What is the capital of Australia?", conversation_id=second)
    fake_service.compare("Can I get a refund for a returned item?", ["rag", "base"], conversation_id=first)
    fake_service.ask("Is there a return window?")  # no conversation id: nothing recorded

    a, b = fake_service.conversation(first), fake_service.conversation(second)
    assert [(m.role, m.mode) for m in a] == [("user", None), ("assistant", "rag"), ("user", None),
                                             ("assistant", "rag"), ("assistant", "base")]
    assert [m.text for m in a if m.role == "user"] == ["How many days do I have to return an item?",
                                                       "Can I get a refund for a returned item?"]
    assert [(m.role, m.text) for m in b][0] == ("user", "What is the capital of Australia?")
    assert len(b) == 2 and b[1].refused is not None and b[1].model
    for message in a + b:
        if message.role == "assistant" and not message.refused and message.mode == "rag":
            assert {s["doc_id"] for s in message.sources} == {"returns"}
    assert fake_service.conversation("never-used") == []


def test_job_row_goes_from_running_to_done(fake_service):
    release = threading.Event()
    job = jobs.EvaluationJob(out_dir="reports/x")
    thread = jobs.start(job, lambda job: release.wait(60), fake_service.engine)
    [row] = fake_service.recent_jobs()
    assert (row.id, row.kind, row.status, row.finished_at) == (job.id, "evaluation", "running", None)
    release.set()
    thread.join(60)
    [row] = fake_service.recent_jobs()
    assert (row.status, row.result, row.error) == ("done", "reports/x", "")
    assert row.finished_at is not None and row.finished_at >= row.started_at


def test_failed_evaluation_is_recorded_with_its_error(fake_service, tmp_path):
    job = fake_service.start_evaluation(["rag"], dataset=tmp_path / "no-such-dataset")
    deadline = time.monotonic() + 60
    while job.running and time.monotonic() < deadline:
        time.sleep(0.1)
    [row] = fake_service.recent_jobs()
    assert (row.id, row.kind, row.status) == (job.id, "evaluation", "failed")
    assert "no-such-dataset" in row.error and row.error == job.error


def test_job_whose_process_died_shows_as_interrupted_and_a_live_one_keeps_running(store_service, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_S", 0.05)
    engine = store_service.engine
    # a row left "running" by a process killed ten minutes ago (its last heartbeat then)
    dead = jobs._insert(engine, "training")
    last_beat = db.now() - timedelta(minutes=10)
    with engine.begin() as conn:
        conn.execute(update(db.jobs).where(db.jobs.c.id == dead).values(heartbeat_at=last_beat))
    release = threading.Event()
    live = jobs.TrainingJob(preset="quick")
    thread = jobs.start(live, lambda job: release.wait(60), engine)
    time.sleep(0.3)  # several heartbeats

    rows = {r.id: r for r in store_service.recent_jobs(kind="training")}
    assert rows[dead].status == "interrupted" and rows[dead].error == jobs.INTERRUPTED
    assert abs((rows[dead].finished_at.replace(tzinfo=None) - last_beat.replace(tzinfo=None)).total_seconds()) < 1
    assert rows[live.id].status == "running" and rows[live.id].finished_at is None
    with engine.connect() as conn:
        beat = conn.execute(select(db.jobs.c.heartbeat_at).where(db.jobs.c.id == live.id)).scalar_one()
    assert beat > rows[live.id].started_at  # the live job wrote heartbeats after it started
    assert store_service.recent_jobs(kind="evaluation") == []

    release.set()
    thread.join(60)
    assert {r.id: r.status for r in store_service.recent_jobs()} == {dead: "interrupted", live.id: "done"}
