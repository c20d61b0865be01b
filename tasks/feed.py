"""Publishing the assignment feed to Prefect's events: ``dondoc.assignment.<what>`` (models/lifecycle/feed.py).

The audit rows are read from the outlet's cursor in id order, in batches; each batch is sent to the Prefect
API in one request (``POST /events``, the batch form of what ``prefect.events.emit_event`` sends one at a
time over a websocket), and the cursor moves in the same database transaction once the API has answered 204.
``emit_event`` is not used: it queues the event for a background thread and logs, not raises, when the API
cannot be reached, so the cursor could move past events Prefect never received.

Delivery is at least once: a crash between the answer and the commit sends the batch again at the next call,
with the same event ids (derived from the change), and Prefect keeps one of each id (its event store inserts
with ON CONFLICT DO NOTHING; its triggers skip an id already seen). Two senders at once (a sweep and an
action's flow) may also send a batch twice, harmlessly; the cursor only moves forward.

If the API is unreachable the call logs one line and returns: the audit rows wait for the next call. The
derived ``escalated`` events of that sweep are lost then (only the dispatcher knew of them); ``overdue`` is
named again by the next sweep, as its cursor did not move. dondoc's own ``event`` table stays the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from prefect import task

from models.calendar.timerules import TimeRules
from models.lifecycle import feed
from models.settings import get_settings
from models.store.db import transaction

BATCH = 500  # audit rows per request
MAX_BATCHES = 20  # per call: a backlog (a first run on a large install) drains over several sweeps

log = logging.getLogger("dondoc.feed")


class Unreachable(Exception):
    """The Prefect API did not take the events."""


def send(events: list[dict]) -> None:
    """One request with every event; raises Unreachable unless the API accepted them all."""
    if not events:
        return
    from prefect.client.orchestration import get_client
    from prefect.events import Event

    body = []
    for e in events:
        try:
            body.append(Event.model_validate(e).model_dump(mode="json"))
        except ValueError as exc:  # one the schema refuses is left out, not retried forever (the audit row stays)
            log.warning("Bỏ qua sự kiện %s (%s): %s", e.get("event"), e.get("payload", {}).get("audit_event"),
                        str(exc).splitlines()[0])
    if not body:
        return
    try:
        with get_client(sync_client=True) as client:
            response = client.request("POST", "/events", json=body)
            response.raise_for_status()
    except Exception as exc:  # httpx, Prefect's HTTP errors, a refused connection: all mean "not delivered"
        raise Unreachable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def publish(now: datetime, *, escalated: Iterable[tuple[int, int]] = (), derive: bool = False,
            max_batches: int = MAX_BATCHES) -> dict:
    """Send the audit rows after the cursor; with ``derive`` (a sweep), the newly overdue assignments too; and
    the escalations this sweep's dispatcher sent, as (notification id, assignment id)."""
    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    salt = feed.database_salt(settings.database_url)
    counts = {"events": 0, "audit_rows": 0, "overdue": 0, "escalated": 0, "unreachable": None}
    try:
        for _ in range(max_batches):
            sent, read = _audit_batch(now, rules=rules, salt=salt)
            counts["events"] += sent
            counts["audit_rows"] += read
            if read < BATCH:
                break
        escalated = list(escalated)
        if derive or escalated:
            overdue, sent = _derived(now, rules=rules, salt=salt, escalated=escalated, derive=derive)
            counts["overdue"] += overdue
            counts["escalated"] += len(escalated)
            counts["events"] += sent
    except Unreachable as exc:
        counts["unreachable"] = str(exc)
        log.warning("Không gửi được sự kiện sang Prefect (%s); sẽ gửi lại ở lần quét sau.", exc)
    except Exception as exc:  # the feed is a view: whatever goes wrong here must not fail a sweep or an action
        counts["unreachable"] = f"{type(exc).__name__}: {exc}"
        log.exception("Lỗi khi gửi sự kiện sang Prefect; sẽ thử lại ở lần quét sau.")
    return counts


def _audit_batch(now: datetime, *, rules: TimeRules, salt: str) -> tuple[int, int]:
    """One batch: read after the cursor, send, move the cursor, in one transaction. Returns (events sent, rows read)."""
    with transaction() as session:
        cursor = feed.cursor(session)
        after = cursor.last_event_id if cursor is not None else feed.first_cursor(session, now=now)
        changes, last = feed.read_changes(session, after=after, limit=BATCH)
        if last == after:
            return 0, 0
        events: list[dict] = []
        if changes:
            facts, current = feed.load_assignments(session, (c.assignment_id for c in changes))
            walk = changes + feed.later_changes(session, after=last, assignment_ids=current)
            states = feed.states_at(walk, current)
            names = feed.agency_names(session, states.values())
            for change in changes:
                if change.assignment_id not in facts or change.id not in states:
                    continue
                for event in feed.feed_events(change, facts[change.assignment_id], states[change.id],
                                              today=rules.today(change.at), calendar=rules.calendar):
                    events.append(feed.as_prefect_event(event, names=names, salt=salt))
        send(events)
        feed.advance(session, feed.OUTLET, last_event_id=last, at=now)
        return len(events), last - after


def _derived(now: datetime, *, rules: TimeRules, salt: str, escalated: list[tuple[int, int]],
             derive: bool) -> tuple[int, int]:
    """The escalations just sent and, on a sweep, the assignments whose first overdue day has come."""
    today = rules.today(now)
    with transaction() as session:
        previous = feed.cursor(session, feed.DERIVED_OUTLET)
        overdue: list[int] = []
        moved = False
        if derive:
            before = rules.today(previous.updated_at) if previous is not None else None
            start, stop = feed.newly_overdue_range(before, today, rules.calendar)
            overdue = feed.open_due_between(session, start, stop)
            moved = previous is None or before < today
        if not overdue and not escalated and not moved:
            return 0, 0
        facts, states = feed.load_assignments(session, [*overdue, *(a for _, a in escalated)])
        names = feed.agency_names(session, states.values())
        events = []
        for assignment_id in overdue:
            state = states[assignment_id]
            event = feed.FeedEvent(what="overdue", occurred=now, facts=facts[assignment_id], state=state,
                                   days_late=feed.days_late(state.due, today, rules.calendar),
                                   source=f"overdue:{assignment_id}:{state.due}")
            events.append(feed.as_prefect_event(event, names=names, salt=salt))
        for row_id, assignment_id in escalated:
            if assignment_id not in facts:
                continue
            state = states[assignment_id]
            event = feed.FeedEvent(what="escalated", occurred=now, facts=facts[assignment_id], state=state,
                                   days_late=feed.days_late(state.due, today, rules.calendar),
                                   source=f"escalated:{row_id}", extra={"notification": row_id})
            events.append(feed.as_prefect_event(event, names=names, salt=salt))
        send(events)
        if moved:
            feed.advance(session, feed.DERIVED_OUTLET, at=now)
        return len(overdue), len(events)


@task(name="publish-events")
def publish_events(now: datetime, escalated: list[tuple[int, int]] | None = None, derive: bool = True) -> dict:
    """Send the assignments' changes to Prefect's event feed (``dondoc.assignment.*``) from the outlet's cursor."""
    return publish(now, escalated=escalated or (), derive=derive)


def publish_changes(now: datetime) -> dict:
    """After a coordinator's action: its changes to the feed at once, not at the next sweep (a plain call, no task run).

    A backlog is left to the sweeps (two batches at most here), and so are the derived changes.
    """
    return publish(now, max_batches=2)
