"""Background jobs (training, evaluation): one of each at a time per service, observable (step, losses)
and cancellable. The UI polls a job; the CLI trains in the foreground instead. Each job's lifecycle
(running -> done | cancelled | failed, with times, error and a short result) is also a row of the
database's `jobs` table, so the history outlives the process. A running job writes a heartbeat to its
row every few seconds; a row still "running" whose heartbeat stopped (the process was killed or
restarted) is marked "interrupted" when the history is read, by whichever replica reads it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Engine, func, insert, select, update

from chatbot import db

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0  # how often a running job touches its row
STALE_AFTER_S = 120.0  # a running row not touched for this long belongs to a process that is gone
INTERRUPTED = "The app stopped while this job was running; it did not finish. Start it again."


@dataclass
class TrainingJob:
    """Mutable state of one run, written by the worker thread and read by any page."""

    kind: ClassVar[str] = "training"
    preset: str
    started_at: float = field(default_factory=time.time)
    status: str = "running"  # running | done | cancelled | failed
    step: int = 0
    total: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    result: Any = None
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    id: int | None = None  # its row in the jobs table

    phase: str = "pairs"  # "pairs" (writing question/answer pairs), then "train"
    pairs_done: int = 0
    pairs_total: int = 0

    def pair_progress(self, done: int, total: int) -> None:
        """Called after each chunk's pairs are written; stops the job when it was cancelled."""
        self.pairs_done, self.pairs_total = done, total
        if self.cancel.is_set():
            from chatbot.finetune.train import TrainingCancelled

            raise TrainingCancelled("Fine-tuning was cancelled; no model was saved.")

    def progress(self, step: int, total: int, loss: float) -> None:
        self.phase = "train"
        self.step, self.total = step, total
        self.losses.append((step, float(loss)))

    def summary(self) -> str:
        """The trained model's name."""
        return str(getattr(self.result, "name", "") or "")

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass
class EvaluationJob:
    """Mutable state of one evaluation run in the app."""

    kind: ClassVar[str] = "evaluation"
    out_dir: Any
    status: str = "running"  # running | done | failed
    phase: str = ""
    done: int = 0
    total: int = 0
    result: Any = None
    error: str = ""
    id: int | None = None  # its row in the jobs table

    def progress(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total

    def summary(self) -> str:
        """Where the report is."""
        return str(self.out_dir)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class JobRecord:
    """A job's row in the database."""

    id: int
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str
    result: str


def start(job: Any, work: Callable[[Any], Any], engine: Engine | None = None) -> threading.Thread:
    """Run `work(job)` in a daemon thread, recording its result or failure on the job, and with an
    engine also in the jobs table (a row 'running' now, its outcome when the work ends)."""
    ended = threading.Event()
    if engine is not None:
        job.id = _insert(engine, job.kind)
        threading.Thread(target=_heartbeat, args=(engine, job.id, ended), name=f"job-{job.id}-heartbeat",
                         daemon=True).start()

    def run() -> None:
        from chatbot.finetune.train import TrainingCancelled

        try:
            job.result = work(job)
            status = "done"
        except TrainingCancelled:
            status = "cancelled"
        except Exception as exc:  # shown to the admin on the page
            status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        if engine is not None:  # the row first: whoever sees the job finished finds its row finished too
            try:
                _finish(engine, job, status)
            except Exception:  # the outcome stays on the job object
                log.exception("could not record the end of job %s", job.id)
        ended.set()
        job.status = status

    thread = threading.Thread(target=run, name=f"job-{type(job).__name__}", daemon=True)
    thread.start()
    return thread


def history(engine: Engine, limit: int = 20, kind: str | None = None) -> list[JobRecord]:
    """The latest jobs (of one kind), newest first; running rows whose process is gone are marked first."""
    mark_interrupted(engine)
    query = select(db.jobs).order_by(db.jobs.c.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(db.jobs.c.kind == kind)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [JobRecord(id=r.id, kind=r.kind, status=r.status, started_at=r.started_at, finished_at=r.finished_at,
                      error=r.error, result=r.result) for r in rows]


def mark_interrupted(engine: Engine, now: datetime | None = None) -> int:
    """Mark "running" rows without a heartbeat for STALE_AFTER_S as interrupted, finished at their last
    heartbeat. Returns how many."""
    last_seen = func.coalesce(db.jobs.c.heartbeat_at, db.jobs.c.started_at)
    cutoff = (now or db.now()) - timedelta(seconds=STALE_AFTER_S)
    with engine.begin() as conn:
        result = conn.execute(update(db.jobs).where(db.jobs.c.status == "running", last_seen < cutoff).values(
            status="interrupted", finished_at=last_seen, error=INTERRUPTED))
    if result.rowcount:
        log.warning("%d job(s) were running in a process that is gone: marked interrupted", result.rowcount)
    return result.rowcount


def _heartbeat(engine: Engine, job_id: int, ended: threading.Event) -> None:
    while not ended.wait(HEARTBEAT_S):
        try:
            with engine.begin() as conn:
                conn.execute(update(db.jobs).where(db.jobs.c.id == job_id, db.jobs.c.status == "running")
                             .values(heartbeat_at=db.now()))
        except Exception:  # a missed beat is harmless unless the database stays away for minutes
            log.warning("could not write the heartbeat of job %s", job_id, exc_info=True)


def _insert(engine: Engine, kind: str) -> int:
    with engine.begin() as conn:
        started = db.now()
        result = conn.execute(insert(db.jobs).values(kind=kind, status="running", started_at=started,
                                                     heartbeat_at=started, error="", result=""))
        return int(result.inserted_primary_key[0])


def _finish(engine: Engine, job: Any, status: str) -> None:
    summary = job.summary() if status == "done" else ""
    with engine.begin() as conn:
        conn.execute(update(db.jobs).where(db.jobs.c.id == job.id).values(
            status=status, finished_at=db.now(), error=job.error[:4000], result=summary[:500]))
