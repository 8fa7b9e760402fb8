"""Background training jobs: one at a time per service, observable (step, losses) and cancellable.
The UI polls a job; the CLI trains in the foreground instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingJob:
    """Mutable state of one run, written by the worker thread and read by any page."""

    preset: str
    started_at: float = field(default_factory=time.time)
    status: str = "running"  # running | done | cancelled | failed
    step: int = 0
    total: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    result: Any = None
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, step: int, total: int, loss: float) -> None:
        self.step, self.total = step, total
        self.losses.append((step, float(loss)))

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass
class EvaluationJob:
    """Mutable state of one evaluation run in the app."""

    out_dir: Any
    status: str = "running"  # running | done | failed
    phase: str = ""
    done: int = 0
    total: int = 0
    result: Any = None
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def running(self) -> bool:
        return self.status == "running"


def start(job: Any, work: Callable[[Any], Any]) -> threading.Thread:
    """Run `work(job)` in a daemon thread, recording its result or failure on the job."""

    def run() -> None:
        from chatbot.finetune.train import TrainingCancelled

        try:
            job.result = work(job)
            job.status = "done"
        except TrainingCancelled:
            job.status = "cancelled"
        except Exception as exc:  # shown to the admin on the page
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run, name=f"job-{type(job).__name__}", daemon=True)
    thread.start()
    return thread
