"""One dispatch batch: claim due rows, render, send over SMTP, record each outcome."""

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
from notifications.smtp import Mailer, Outcome

CHUNK = 100  # outcomes are recorded every CHUNK messages, so a crash re-sends at most that many


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter = field(default_factory=Counter)  # sent / failed / retrying
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
    finished: list[tuple[Prepared, Outcome]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="compose") as composer, \
            ThreadPoolExecutor(1, thread_name_prefix="record") as recorder:

        def produce() -> None:
            for p in prepared:
                try:
                    item = (p, compose(p, mail_from=settings.mail_from, sender_name=senders[p.row_id], now=now,
                                       domain=domain) if p.to else None)
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
                    item = (p, Outcome("failed", f"không tạo được thư: {type(exc).__name__}: {exc}"))
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

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
                p, data = item
                subject = p.key.rsplit("/", 2)[0]
                before, done = previous.get(subject), asyncio.Event()
                previous[subject] = done
                if before is not None:
                    await before.wait()
                try:
                    if data is None:
                        outcome = Outcome("failed", "không xác định được người nhận")
                    elif isinstance(data, Outcome):
                        outcome = data
                    else:
                        outcome = await mailer.send(data, settings.mail_from, [x.email for x in p.to + p.cc])
                finally:
                    done.set()
                finished.append((p, outcome))
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


def _record(engine, chunk: list[tuple[Prepared, Outcome]], *, now, rules, domain, settings, result: BatchResult) -> None:
    with session_scope(engine) as session:
        for prepared, outcome in chunk:
            row = session.get(outbox.Notification, prepared.row_id)
            if outcome.state == "sent":
                recipients = {"to": [p.email for p in prepared.to], "cc": [p.email for p in prepared.cc]}
                if outcome.refused:
                    recipients["refused"] = outcome.refused
                note = "một số người nhận bị từ chối: " + "; ".join(outcome.refused) if outcome.refused else None
                outbox.mark_sent(session, row, now=now, recipients=recipients, rules=rules, domain=domain, note=note)
                result.counts["sent"] += 1
                if result.collect:
                    result.sent.append({"at": now.isoformat(), "rung": prepared.rung, "directive": prepared.slug,
                                        "assignment": prepared.assignment_key, "to": recipients["to"],
                                        "cc": recipients["cc"], "message_id": prepared.message_id})
            elif outcome.state == "failed":
                result.counts[outbox.mark_failed(session, row, error=outcome.error or "")] += 1
            else:
                result.counts[outbox.mark_retry(session, row, now=now, error=outcome.error or "",
                                                max_attempts=settings.max_attempts)] += 1
