"""How long a message is retried after transient failures: for a time, not a number of tries.

A count of tries (30 used to be about 26 hours) turns a weekend outage of the
mail server into failed messages nobody re-sends. A window measured from the
row's first attempt survives any outage shorter than ``DONDOC_RETRY_HOURS``,
however often the sweep runs, and a message that catches up after dondoc
itself was down still gets its full window.

Within the window the delay grows (1, 5, 15, 30, then every 60 minutes); the
last attempt is made when the window ends, and if that one fails too the row
fails. A rung that a later rung supersedes need not wait that long: a caller
that knows when it was superseded passes ``superseded_at`` and the window ends
there (catch-up decides what state such a row takes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

RETRY_STEPS = (60, 300, 900, 1800, 3600)  # seconds after the 1st, 2nd, … failed attempt; the last repeats


def retry_deadline(first_attempt: datetime, *, hours: float, superseded_at: datetime | None = None) -> datetime:
    """When the window of a row first attempted at ``first_attempt`` ends."""
    end = first_attempt + timedelta(hours=hours)
    return min(end, superseded_at) if superseded_at is not None else end


def next_attempt(*, first_attempt: datetime, attempts: int, now: datetime, hours: float,
                 superseded_at: datetime | None = None) -> datetime | None:
    """When to try again after the ``attempts``-th attempt failed transiently at ``now``; ``None``: give up."""
    deadline = retry_deadline(first_attempt, hours=hours, superseded_at=superseded_at)
    if now >= deadline:
        return None
    step = RETRY_STEPS[min(max(attempts, 1), len(RETRY_STEPS)) - 1]
    return min(now + timedelta(seconds=step), deadline)
