"""The clock lease: at most one `dondoc serve` runs the clock of a database.

APScheduler 3 keeps serve's jobs in the project database and must never share
that job store between two processes: two clocks on one store would both fire
each job and rewrite each other's next run times. So a serve takes this lease
(the one ``clock_lease`` row) before it starts its scheduler, renews it while it
runs and deletes it when it stops cleanly.

Who may take it is ``judge``, a pure function of the row, who asks, and ``now``:

- no row, or the asker's own row: yes;
- a row whose lease has expired: yes, whoever and wherever the holder is (a
  holder on another machine that died, or one that froze: it finds the row
  taken at its next renewal and stops its clock);
- a row from this machine whose process is gone (serve killed with -9): yes,
  at once, without waiting for the lease to expire;
- a row from this machine with this very pid but another instance: yes, it is
  an earlier life of this pid (a container restarted, its serve is pid 1 again);
- otherwise no: another serve runs the clock.

The lease is on the wall clock, like the outbox's claims: callers pass ``now``
(shells read it with ``wall_clock``). Hosts sharing one PostgreSQL compare
their clocks through ``expires_at``, so they must keep them in step (NTP);
a skew of S seconds moves the takeover of a dead host's lease by S.

Taking is compare-and-set, never read-then-write in one transaction: the row
is read, judged, then written only if it is still the row that was judged
(same instance and same ``renewed_at``), or inserted if there was none (the
primary key refuses a second insert). Two serves starting at the same moment
on either backend: one takes the lease, the other sees it held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from models.store.db import session_scope
from models.store.tables import ClockLease

NAME = "clock"

# A lease lasts 30 s and is renewed every 10 s. The renewal can miss twice (a busy
# 2-core machine, a database restart, a long GC pause) before another machine may
# take the clock over; and a serve that died on another machine holds the clock
# back for at most 30 s, less than two of the shortest sweep interval (1 min), so
# no tick is lost. On the same machine a dead holder is taken over at once anyway.
LEASE_SECONDS = 30
RENEW_SECONDS = 10


@dataclass(frozen=True)
class Claimant:
    """A serve asking for the clock: its random instance id, its machine and its process."""

    instance: str
    host: str
    pid: int


class Verdict(str, Enum):
    FREE = "free"        # no row
    OURS = "ours"        # the asker's own row
    EXPIRED = "expired"  # the holder did not renew in time
    DEAD = "dead"        # same machine, the holder's process is gone
    REUSED = "reused"    # same machine, the asker's own pid: an earlier life of this pid
    HELD = "held"        # another serve runs the clock

    @property
    def may_take(self) -> bool:
        return self is not Verdict.HELD


def judge(row: ClockLease | None, *, claimant: Claimant, now: datetime,
          pid_alive: Callable[[int], bool]) -> Verdict:
    """Whether ``claimant`` may take the lease ``row`` at ``now``.

    ``pid_alive`` tells whether a process of this machine is running; it is asked
    only about a holder on the claimant's machine whose lease has not expired.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if row is None:
        return Verdict.FREE
    if row.instance == claimant.instance:
        return Verdict.OURS
    if now >= row.expires_at:
        return Verdict.EXPIRED
    if row.host == claimant.host:
        if row.pid == claimant.pid:
            return Verdict.REUSED
        if row.pid <= 0 or not pid_alive(row.pid):  # a pid of 0 or less names no process (kill(0) is a group)
            return Verdict.DEAD
    return Verdict.HELD


def holder(engine: Engine) -> ClockLease | None:
    """The lease as stored now, or None."""
    with session_scope(engine) as session:
        row = session.get(ClockLease, NAME)
        if row is not None:
            session.expunge(row)
        return row


def take(engine: Engine, *, claimant: Claimant, now: datetime, pid_alive: Callable[[int], bool],
         lease: int = LEASE_SECONDS, tries: int = 5) -> tuple[Verdict, ClockLease | None]:
    """Take the lease if ``judge`` allows it; returns the verdict and the row as it was found.

    On ``HELD`` nothing is written and the row names the holder. A row that changed
    between reading and writing (another serve took it meanwhile) is judged again,
    up to ``tries`` times; a lease still changing after that counts as held.
    """
    for _ in range(tries):
        row = holder(engine)
        verdict = judge(row, claimant=claimant, now=now, pid_alive=pid_alive)
        if not verdict.may_take:
            return verdict, row
        values = dict(instance=claimant.instance, host=claimant.host[:255], pid=claimant.pid, started_at=now,
                      renewed_at=now, expires_at=now + timedelta(seconds=lease))
        try:
            with session_scope(engine) as session:
                if row is None:
                    session.add(ClockLease(name=NAME, **values))
                    session.flush()
                    return verdict, row
                changed = session.exec(
                    update(ClockLease)
                    .where(ClockLease.name == NAME, ClockLease.instance == row.instance,
                           ClockLease.renewed_at == row.renewed_at)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if changed == 1:
                    return verdict, row
        except IntegrityError:
            pass  # another serve inserted the row first: judge that one
    return Verdict.HELD, holder(engine)  # it changed under us at every try: someone else is taking it


def renew(engine: Engine, *, instance: str, now: datetime, lease: int = LEASE_SECONDS) -> bool:
    """Extend ``instance``'s lease from ``now``; False when it is no longer theirs (another serve took it over)."""
    with session_scope(engine) as session:
        changed = session.exec(
            update(ClockLease)
            .where(ClockLease.name == NAME, ClockLease.instance == instance)
            .values(renewed_at=now, expires_at=now + timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        ).rowcount
    return changed == 1


def release(engine: Engine, *, instance: str) -> bool:
    """Give the lease up; False when it was not ``instance``'s any more (nothing is deleted then)."""
    with session_scope(engine) as session:
        changed = session.exec(
            delete(ClockLease)
            .where(ClockLease.name == NAME, ClockLease.instance == instance)
            .execution_options(synchronize_session=False)
        ).rowcount
    return changed == 1
