"""One dispatch batch: claim due rows, render, send over SMTP, record each outcome.

A row goes out as one or more envelopes (notifications/envelopes.py): one per
lead agency, carrying only its link, and one copy without a link for the rest.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from models.db import session_scope
from models.planning import mail_domain
from models.settings import Settings
from models.timerules import TimeRules
from notifications import aio, outbox
from notifications.compose import compose
from notifications.context import BatchContext, LinkMaker, Prepared
from notifications.envelopes import Envelope, settle
from notifications.smtp import Mailer, Outcome

CHUNK = 100  # outcomes are recorded every CHUNK rows, so a crash re-sends at most that many rows' messages


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter = field(default_factory=Counter)  # rows: sent / failed / retrying
    delivered: int = 0  # messages the server accepted (a row may go out as several: one per lead agency)
    sent: list[dict] = field(default_factory=list)  # what went where, for timelines (only with collect)
    collect: bool = False


def dispatch_batch(engine, *, now: datetime, settings: Settings, rules: TimeRules, links: LinkMaker | None = None,
                   limit: int | None = None, collect: bool = False) -> BatchResult:
    """Claim up to ``limit`` due rows and deliver them; returns the counts (and, with ``collect``, each message)."""
    worker = uuid.uuid4().hex[:16]
    limit = limit or settings.batch_size
    with session_scope(engine) as session:
        ids = outbox.claim(session, now=now, limit=limit, worker=worker, claim_timeout=settings.claim_timeout_seconds)
    result = BatchResult(claimed=len(ids), collect=collect)
    if not ids:
        return result
    domain = mail_domain(settings.mail_from)
    with Session(engine, expire_on_commit=False) as session:
        rows = outbox.load(session, ids)
        batch = BatchContext(session, rows, now=now, rules=rules, links=links)
        prepared = [batch.prepare(row) for row in rows]
        senders = {p.row_id: p.context["directive"]["issuer_name"] for p in prepared}
    aio.run(_pipeline(prepared, senders, settings, engine, now=now, rules=rules, domain=domain, result=result))
    return result


async def _pipeline(prepared: list[Prepared], senders: dict[int, str], settings: Settings, engine, *, now: datetime,
                    rules: TimeRules, domain: str, result: BatchResult) -> None:
    """Compose on one thread while the event loop sends and a second thread records outcomes.

    The local SMTP server, not dondoc, should be what limits the rate: composing
    (~1 ms a message) and recording overlap with waiting for the server's replies.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=64)
    mailer = Mailer(settings)
    finished: list[tuple[Prepared, list[tuple[Envelope, Outcome]]]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="compose") as composer, \
            ThreadPoolExecutor(1, thread_name_prefix="record") as recorder:

        def produce() -> None:
            for p in prepared:
                parts: list[tuple[Envelope, bytes | Outcome]] = []
                for envelope in p.owed:
                    try:
                        data = compose(p, envelope, mail_from=settings.mail_from, sender_name=senders[p.row_id],
                                       now=now, domain=domain)
                    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
                        data = Outcome("failed", f"không tạo được thư: {type(exc).__name__}: {exc}")
                    parts.append((envelope, data))
                asyncio.run_coroutine_threadsafe(queue.put((p, parts)), loop).result()

        async def flush(force: bool = False) -> None:
            if finished and (force or len(finished) >= CHUNK):
                chunk = finished[:]
                finished.clear()
                await loop.run_in_executor(recorder, partial(_record, engine, chunk, now=now, rules=rules,
                                                             domain=domain, settings=settings, result=result))

        # Rows arrive oldest first; two rows about one assignment (a catch-up after downtime: reminder,
        # due-soon, overdue…) must also leave in that order, so each waits for the one before it.
        previous: dict[str, asyncio.Event] = {}

        async def send_loop() -> None:
            while (item := await queue.get()) is not None:
                p, parts = item
                subject = p.key.rsplit("/", 2)[0]
                before, done = previous.get(subject), asyncio.Event()
                previous[subject] = done
                if before is not None:
                    await before.wait()
                results: list[tuple[Envelope, Outcome]] = []
                try:
                    for envelope, data in parts:  # one after another: a row's messages keep their order too
                        if not isinstance(data, Outcome):
                            data = await mailer.send(data, settings.mail_from, envelope.addresses)
                        results.append((envelope, data))
                finally:
                    done.set()
                finished.append((p, results))
                await flush()

        try:
            workers = [asyncio.create_task(send_loop()) for _ in range(settings.smtp_connections)]
            await loop.run_in_executor(composer, produce)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            await flush(force=True)
        finally:
            await mailer.close()


def _record(engine, chunk: list[tuple[Prepared, list[tuple[Envelope, Outcome]]]], *, now, rules, domain, settings,
            result: BatchResult) -> None:
    with session_scope(engine) as session:
        for prepared, results in chunk:
            row = session.get(outbox.Notification, prepared.row_id)
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
            elif settled.state == "failed":
                result.counts[outbox.mark_failed(session, row, error=settled.error or "", recipients=recipients,
                                                 rules=rules, domain=domain, now=now)] += 1
            else:
                result.counts[outbox.mark_retry(session, row, now=now, error=settled.error or "",
                                                retry_hours=settings.retry_hours, recipients=recipients,
                                                rules=rules, domain=domain)] += 1
