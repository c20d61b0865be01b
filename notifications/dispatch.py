"""One dispatch batch: claim due rows, render, send over SMTP, record each outcome.

A row goes out as one or more envelopes (notifications/envelopes.py): one per
lead agency, carrying only its link, and one copy without a link for the rest.

The claim is a lease (notifications/outbox.py), renewed every quarter of
DONDOC_CLAIM_LEASE_SECONDS while the batch is in flight, so a live batch is
never taken over however long it lasts, and a crashed one comes back within
the lease. Outcomes are recorded within RECORD_WITHIN seconds or RECORD_EVERY
messages, so a crash re-sends only the few messages in between (with their
own Message-IDs). A failed write of outcomes or of the lease ends the batch:
what was sent and not recorded goes out again once the lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from models.store.db import session_scope
from models.lifecycle.planning import mail_domain
from models.settings import Settings
from models.calendar.timerules import TimeRules, wall_clock
from notifications import aio, outbox
from notifications.compose import compose
from notifications.context import BatchContext, LinkMaker, Prepared
from notifications.envelopes import Envelope, settle
from notifications.smtp import Mailer, Outcome

RECORD_EVERY = 10  # messages: their outcomes are written once this many wait…
RECORD_WITHIN = 1.0  # …or once the oldest has waited this long (seconds), whichever comes first
BACKLOG = 50  # messages sent and not yet recorded before the senders wait for the database


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter = field(default_factory=Counter)  # rows: sent / failed / retrying
    delivered: int = 0  # messages the server accepted (a row may go out as several: one per lead agency)
    sent: list[dict] = field(default_factory=list)  # what went where, for timelines (only with collect)
    # Escalation rows marked sent, as (row id, assignment id): the feed's ``escalated`` (models/lifecycle/feed.py).
    escalated: list[tuple[int, int]] = field(default_factory=list)
    collect: bool = False
    unavailable: str | None = None  # why the mail server was given up on: the rest of the batch waits for later


def dispatch_batch(engine, *, now: datetime, settings: Settings, rules: TimeRules, links: LinkMaker | None = None,
                   limit: int | None = None, collect: bool = False,
                   clock: Callable[[], datetime] | None = None) -> BatchResult:
    """Claim up to ``limit`` rows due by ``now`` and deliver them; returns the counts (and, with ``collect``, each message).

    ``clock`` reads the wall clock for the lease (the real one unless a test drives it): ``now`` decides what is
    due and what the messages say, the clock how long a claim lasts.
    """
    worker = uuid.uuid4().hex[:16]
    limit = limit or settings.batch_size
    clock = clock or partial(wall_clock, settings.tz)
    with session_scope(engine) as session:
        ids = outbox.claim(session, now=now, limit=limit, worker=worker, stamp=clock(),
                           lease=settings.claim_lease_seconds)
    result = BatchResult(claimed=len(ids), collect=collect)
    if not ids:
        return result
    domain = mail_domain(settings.mail_from)
    with Session(engine, expire_on_commit=False) as session:
        rows = outbox.load(session, ids)
        batch = BatchContext(session, rows, now=now, rules=rules, links=links)
        prepared = [batch.prepare(row) for row in rows]
        senders = {p.row_id: p.context["directive"]["issuer_name"] for p in prepared}
    aio.run(_pipeline(prepared, senders, settings, engine, now=now, rules=rules, domain=domain, result=result,
                      worker=worker, clock=clock))
    return result


async def _pipeline(prepared: list[Prepared], senders: dict[int, str], settings: Settings, engine, *, now: datetime,
                    rules: TimeRules, domain: str, result: BatchResult, worker: str,
                    clock: Callable[[], datetime]) -> None:
    """Compose on one thread while the event loop sends and a second thread records outcomes and renews the lease.

    The local SMTP server, not dondoc, should be what limits the rate: composing
    (~1 ms a message) and recording overlap with waiting for the server's replies.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=64)
    mailer = Mailer(settings)
    unrecorded: list[tuple[Prepared, list[tuple[Envelope, Outcome]]]] = []
    state = {"messages": 0, "oldest": 0.0, "done": False}  # messages waiting in unrecorded; when the first came
    held = {p.row_id for p in prepared}  # rows whose lease is ours (a renewal drops any taken over)
    wake = asyncio.Event()  # an outcome arrived, or the senders are done
    room = asyncio.Event()  # cleared while BACKLOG messages wait for the database
    room.set()
    stop = threading.Event()  # tells the composer to stop: the batch ends early
    record = partial(_record, engine, now=now, rules=rules, domain=domain, settings=settings, result=result,
                     worker=worker)
    with ThreadPoolExecutor(1, thread_name_prefix="compose") as composer, \
            ThreadPoolExecutor(1, thread_name_prefix="record") as recorder:

        def produce() -> None:
            for p in prepared:
                if stop.is_set():
                    return
                parts: list[tuple[Envelope, bytes | Outcome]] = []
                for envelope in p.owed:
                    try:
                        data = compose(p, envelope, mail_from=settings.mail_from, sender_name=senders[p.row_id],
                                       now=now, domain=domain)
                    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
                        data = Outcome("failed", f"không tạo được thư: {type(exc).__name__}: {exc}")
                    parts.append((envelope, data))
                asyncio.run_coroutine_threadsafe(queue.put((p, parts)), loop).result()

        async def keep() -> None:
            """Record outcomes and renew the lease, on the record thread, until every outcome is recorded."""
            nonlocal held
            every = settings.claim_lease_seconds / 4
            renew_at = loop.time()  # at once: preparing a big batch took some of the lease already
            while True:
                wake.clear()
                if state["done"] and not unrecorded:
                    return
                moment = loop.time()
                ready = bool(unrecorded) and (state["done"] or state["messages"] >= RECORD_EVERY
                                              or moment >= state["oldest"] + RECORD_WITHIN)
                if not ready and moment < renew_at:
                    until = min(renew_at, state["oldest"] + RECORD_WITHIN) if unrecorded else renew_at
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), until - moment)
                    continue
                if ready:
                    chunk = unrecorded[:]
                    unrecorded.clear()
                    state["messages"] = 0
                    room.set()
                    await loop.run_in_executor(recorder, record, chunk)
                if loop.time() >= renew_at:
                    held = await loop.run_in_executor(recorder, _renew, engine, worker, clock)
                    renew_at = loop.time() + every

        # Rows arrive oldest first; two rows about one assignment (a catch-up after downtime: reminder,
        # due-soon, overdue…) must also leave in that order, so each waits for the one before it.
        previous: dict[str, asyncio.Event] = {}

        async def send_loop() -> None:
            while (item := await queue.get()) is not None:
                p, parts = item
                subject = p.key.rsplit("/", 2)[0]
                before, done = previous.get(subject), asyncio.Event()
                previous[subject] = done
                results: list[tuple[Envelope, Outcome]] = []
                try:
                    if before is not None:
                        await before.wait()
                    if p.row_id not in held:
                        continue  # our lease lapsed and another dispatcher took the row: it is that one's to send
                    for envelope, data in parts:  # one after another: a row's messages keep their order too
                        if not isinstance(data, Outcome):
                            data = await mailer.send(data, settings.mail_from, envelope.addresses)
                        results.append((envelope, data))
                finally:
                    done.set()
                if not unrecorded:
                    state["oldest"] = loop.time()
                unrecorded.append((p, results))
                state["messages"] += max(1, len(results))
                wake.set()
                if state["messages"] >= BACKLOG:
                    room.clear()
                await room.wait()

        async def feed(composing) -> None:
            await asyncio.wrap_future(composing)
            for _ in workers:
                await queue.put(None)

        composing = composer.submit(produce)
        workers = [asyncio.create_task(send_loop()) for _ in range(settings.smtp_connections)]
        feeder = asyncio.create_task(feed(composing))
        keeper = asyncio.create_task(keep())
        sending = asyncio.gather(feeder, *workers)
        failed = True
        try:
            await asyncio.wait({keeper, sending}, return_when=asyncio.FIRST_COMPLETED)
            if keeper.done():
                keeper.result()  # the database failed under us (keep() returns only once the senders are done)
            await sending
            state["done"] = True
            wake.set()
            await keeper
            failed = False
        finally:
            stop.set()
            for task in (sending, keeper):
                task.cancel()
            while not composing.done():  # the composer may wait on a full queue: make room until it returns
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.sleep(0.01)
            result.unavailable = mailer.unreachable
            await mailer.close(abort=failed)


def _renew(engine, worker: str, clock: Callable[[], datetime]) -> set[int]:
    with session_scope(engine) as session:
        return outbox.renew(session, worker=worker, stamp=clock())


def _record(engine, chunk: list[tuple[Prepared, list[tuple[Envelope, Outcome]]]], *, now, rules, domain, settings,
            result: BatchResult, worker: str | None = None) -> None:
    with session_scope(engine) as session:
        for prepared, results in chunk:
            row = session.get(outbox.Notification, prepared.row_id)
            if worker and (row.state != "sending" or row.claimed_by != worker):
                continue  # our lease lapsed and another dispatcher took the row over: its outcome is that one's
            if not prepared.envelopes:
                result.counts[outbox.mark_failed(session, row, error="không xác định được người nhận", rules=rules,
                                                 domain=domain, now=now)] += 1
                continue
            settled = settle(prepared.envelopes, prepared.settled, results)
            recipients = {"to": [p.email for p in prepared.to], "cc": [p.email for p in prepared.cc],
                          "envelopes": settled.envelopes}
            if settled.refused:
                recipients["refused"] = settled.refused
            for envelope, outcome in results:
                if outcome.state != "sent":
                    continue
                result.delivered += 1
                if result.collect:
                    result.sent.append({"at": now.isoformat(), "rung": prepared.rung, "directive": prepared.slug,
                                        "assignment": prepared.assignment_key, "to": [p.email for p in envelope.to],
                                        "cc": [p.email for p in envelope.cc], "message_id": envelope.message_id,
                                        "lead": envelope.lead})
            if settled.state == "sent":
                outbox.mark_sent(session, row, now=now, recipients=recipients, rules=rules, domain=domain)
                result.counts["sent"] += 1
                if row.rung == "escalation" and row.assignment_id is not None:
                    result.escalated.append((row.id, row.assignment_id))
            elif settled.state == "failed":
                result.counts[outbox.mark_failed(session, row, error=settled.error or "", recipients=recipients,
                                                 rules=rules, domain=domain, now=now)] += 1
            else:
                result.counts[outbox.mark_retry(session, row, now=now, error=settled.error or "",
                                                retry_hours=settings.retry_hours, recipients=recipients,
                                                rules=rules, domain=domain)] += 1
