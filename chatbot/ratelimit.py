"""A sliding-window rate limit for one chat session (pure: the caller keeps the timestamps)."""

from __future__ import annotations


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
