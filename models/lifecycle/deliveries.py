"""Who did not get a message, read back from the outbox, and re-queuing those deliveries.

A row goes out as several messages ("envelopes", notifications/envelopes.py),
each to several addresses; the row's ``recipients`` JSON keeps, per envelope,
the addresses that accepted it (``delivered``) and those refused for good
(``failed``). How a row with a failed delivery is represented:

- the row is ``failed`` as soon as any delivery of it failed for good, even if
  every other message went out: that is what `outbox --state failed`, the
  digest and `status` look for, so a refused agency is never reported as
  delivered;
- the deliveries that did go out stay recorded as delivered, per address, so
  no re-send ever reaches them again;
- re-queuing turns failed deliveries back into owed ones and the row back to
  ``pending``. It keeps its key and Message-IDs (the same message, re-sent),
  and the next attempt sends each message only to the addresses it still owes.

A per-delivery table was the alternative; it would duplicate what the row's
record already holds and need a second write per message on the hot path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, select

from models.lifecycle.status import OPEN
from models.store.tables import Assignment, Directive, Event, Notification

FAILED = "failed"
REQUEUED = "requeued"  # an envelope state: owed again after a re-queue


def failures(recipients: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each delivery a failed row did not make: address, agency, head, error and the message's Message-ID.

    Those refused for good, and, when the row ran out of retry time, those
    still owed (their error is the last transient one).
    """
    out = []
    for envelope in (recipients or {}).get("envelopes", []):
        if envelope.get("state") == "sent":
            continue
        error = envelope.get("error", "")
        for entry in _failed(envelope) + [{**o, "error": error} for o in envelope.get("owed", [])]:
            out.append({**entry, "message_id": envelope["message_id"], "lead": envelope.get("lead")})
    return out


def _failed(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    entries = envelope.get("failed")
    if entries is None and envelope.get("state") == FAILED:  # written before outcomes were kept per recipient
        entries = [{"address": a, "agency": envelope.get("lead"), "head": False, "error": envelope.get("error", "")}
                   for a in envelope.get("to", []) + envelope.get("cc", [])]
    return list(entries or [])


def delivered(recipients: dict[str, Any] | None) -> int:
    """How many addresses got one of the row's messages."""
    total = 0
    for envelope in (recipients or {}).get("envelopes", []):
        if "delivered" in envelope:
            total += len(envelope["delivered"])
        elif envelope.get("state") == "sent":  # an older record: sent means everyone it named
            total += len(envelope.get("to", [])) + len(envelope.get("cc", []))
    return total


def reopen(recipients: dict[str, Any] | None, *, addresses: set[str] | None = None) -> dict[str, Any] | None:
    """The record with its failed deliveries owed again: all of them, or those to ``addresses``.

    ``None`` when no failed delivery matches. Delivered addresses stay
    delivered, and the other failed ones stay failed: the next attempt sends
    each message only to the addresses reopened here.
    """
    record = copy.deepcopy(recipients or {})
    wanted = {a.lower() for a in addresses} if addresses is not None else None
    matched = False
    for envelope in record.get("envelopes", []):
        if envelope.get("state") == "sent":
            continue
        entries = _failed(envelope)
        keep = [f for f in entries if wanted is not None and f["address"].lower() not in wanted]
        owed = [o["address"].lower() for o in envelope.get("owed", [])]
        if len(keep) < len(entries) or (owed and (wanted is None or wanted & set(owed))):
            envelope["failed"], envelope["state"], matched = keep, REQUEUED, True
            envelope.pop("owed", None)
    return record if matched else None


@dataclass
class Requeued:
    """What one re-queue did to one directive."""

    slug: str
    keys: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.keys)


def requeue(session: Session, *, now: datetime, actor: str, directive_id: int | None = None,
            addresses: set[str] | None = None, reason: dict[str, Any] | None = None) -> list[Requeued]:
    """Put failed rows back in the queue (of one directive, or all; only deliveries to ``addresses``, if given).

    Rows that may no longer go out (a closed directive, a finished assignment)
    stay failed: the sweep would cancel them. Each directive touched gets one
    ``requeued`` event with the keys, so the audit trail and the next digest
    say what was re-queued and why. The retry window starts again.
    """
    closed = select(Directive.id).where(Directive.status != "active")
    finished = select(Assignment.id).where(Assignment.status.not_in(OPEN))
    query = (
        select(Notification, Directive.slug)
        .join(Directive, Directive.id == Notification.directive_id)
        .where(Notification.state == FAILED,
               or_(Notification.directive_id.not_in(closed), Notification.rung == "closed"),
               or_(Notification.assignment_id.is_(None), Notification.assignment_id.not_in(finished)))
        .order_by(Notification.directive_id, Notification.due_at, Notification.id)
    )
    if directive_id is not None:
        query = query.where(Notification.directive_id == directive_id)
    done: dict[int, Requeued] = {}
    for row, slug in session.exec(query).all():
        record = reopen(row.recipients, addresses=addresses)
        if record is None:
            continue
        # A new window, and the backoff starts again at one minute; the event keeps the history.
        row.recipients, row.state, row.next_attempt_at, row.first_attempt_at = record, "pending", None, None
        row.attempts = 0
        row.claimed_by = row.claimed_at = None
        session.add(row)
        done.setdefault(row.directive_id, Requeued(slug)).keys.append(row.key)
    for directive, item in done.items():
        session.add(Event(at=now, actor=actor, kind="requeued", directive_id=directive,
                          payload={**(reason or {}), "count": item.count, "keys": item.keys}))
    session.flush()
    return list(done.values())
