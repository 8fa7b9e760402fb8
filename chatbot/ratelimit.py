"""Limits the web app keeps per server process, so that a reload or a new tab resets nothing: questions
per minute per client, answers in progress over all clients, and admin sign-in attempts."""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator


def allow(stamps: list[float], now: float, per_minute: int) -> tuple[bool, float]:
    """Record a question at `now` if fewer than `per_minute` were asked in the last 60 s.

    Returns (allowed, seconds to wait). `stamps` is updated in place.

    >>> stamps = []
    >>> [allow(stamps, t, 2)[0] for t in (0, 1, 2)], allow(stamps, 61, 2)
    ([True, True, False], (True, 0.0))
    """
    stamps[:] = [t for t in stamps if now - t < 60]
    if len(stamps) >= per_minute:
        return False, round(60 - (now - stamps[0]), 1)
    stamps.append(now)
    return True, 0.0


class QuestionLimits:
    """Questions per minute per client (its address), and at most `max_active` answers being written or
    waiting for the model at once over all clients (the model answers one at a time: beyond a short
    queue a customer is told the assistant is busy rather than left waiting minutes).

    >>> limits = QuestionLimits(per_minute=2, max_active=1)
    >>> [limits.allow("1.2.3.4", t)[0] for t in (0, 1, 2)], limits.allow("5.6.7.8", 2)[0]
    ([True, True, False], True)
    >>> with limits.answering() as first, limits.answering() as second:
    ...     first, second
    (True, False)
    """

    def __init__(self, per_minute: int, max_active: int):
        self.per_minute = per_minute
        self.max_active = max_active
        self._lock = threading.Lock()
        self._stamps: dict[str, list[float]] = defaultdict(list)
        self._active = 0

    def allow(self, client: str, now: float) -> tuple[bool, float]:
        with self._lock:
            if len(self._stamps) > 10_000:  # forget clients idle for a minute
                for key in [k for k, v in self._stamps.items() if not v or now - v[-1] >= 60]:
                    del self._stamps[key]
            return allow(self._stamps[client], now, self.per_minute)

    @contextlib.contextmanager
    def answering(self) -> Iterator[bool]:
        """Yields whether this answer may start; holds its place until the block ends."""
        with self._lock:
            admitted = self._active < self.max_active
            self._active += admitted
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._active -= 1


class LoginThrottle:
    """Admin sign-in attempts: after `free` wrong passwords a client must wait, twice as long after each
    further one (up to `longest` s), and past `overall` wrong passwords in ten minutes from all clients
    together every client waits `longest` s. A right password clears its client's count.

    >>> throttle = LoginThrottle(free=2, first_wait=5, longest=60, overall=100)
    >>> for t in (0, 1, 2):
    ...     throttle.failed("a", t)
    >>> throttle.wait("a", 3), throttle.wait("b", 3)
    (4.0, 0.0)
    >>> throttle.failed("a", 8); throttle.wait("a", 8)
    10.0
    """

    def __init__(self, free: int = 3, first_wait: float = 5.0, longest: float = 300.0, overall: int = 30):
        self.free, self.first_wait, self.longest, self.overall = free, first_wait, longest, overall
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (count, time of the last)
        self._recent: list[float] = []

    def wait(self, client: str, now: float) -> float:
        """Seconds `client` must wait before its next attempt (0: it may try now)."""
        with self._lock:
            self._recent = [t for t in self._recent if now - t < 600]
            if len(self._recent) >= self.overall:
                return round(max(0.0, float(self._recent[-1] + self.longest - now)), 1)
            count, last = self._failures.get(client, (0, 0.0))
            if count <= self.free:
                return 0.0
            pause = min(self.first_wait * 2 ** (count - self.free - 1), self.longest)
            return round(max(0.0, float(last + pause - now)), 1)

    def failed(self, client: str, now: float) -> None:
        with self._lock:
            count, _ = self._failures.get(client, (0, 0.0))
            self._failures[client] = (count + 1, now)
            self._recent.append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
