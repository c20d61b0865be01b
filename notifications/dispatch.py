"""One dispatch batch: claim due rows, render, send over SMTP, record each outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from models.db import session_scope
from models.planning import mail_domain
from models.settings import Settings
from models.timerules import TimeRules
from notifications import outbox
from notifications.compose import compose, to_bytes
from notifications.context import BatchContext, LinkMaker, Prepared
from notifications.smtp import Mailer, Outcome

CHUNK = 100  # outcomes are recorded every CHUNK messages, so a crash re-sends at most that many


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter = field(default_factory=Counter)  # sent / failed / retrying
    sent: list[dict] = field(default_factory=list)  # what went where, for timelines


def dispatch_batch(engine, *, now: datetime, settings: Settings, rules: TimeRules, links: LinkMaker | None = None,
                   limit: int | None = None) -> BatchResult:
    """Claim up to ``limit`` due rows and deliver them; returns what happened."""
    worker = uuid.uuid4().hex[:16]
    limit = limit or settings.batch_size
    with session_scope(engine) as session:
        ids = outbox.claim(session, now=now, limit=limit, worker=worker, claim_timeout=settings.claim_timeout_seconds)
    result = BatchResult(claimed=len(ids))
    if not ids:
        return result
    domain = mail_domain(settings.mail_from)
    with Session(engine, expire_on_commit=False) as session:
        rows = outbox.load(session, ids)
        batch = BatchContext(session, rows, now=now, rules=rules, links=links)
        prepared = [batch.prepare(row) for row in rows]
        senders = {p.row_id: batch.directive_view(batch.directives[row.directive_id])["issuer_name"]
                   for p, row in zip(prepared, rows)}
    messages = [
        (p, to_bytes(compose(p, mail_from=settings.mail_from, sender_name=senders[p.row_id], now=now, domain=domain)))
        for p in prepared if p.to
    ]
    nobody = [p for p in prepared if not p.to]
    asyncio.run(_send_all(messages, settings, engine, now=now, rules=rules, domain=domain, result=result))
    with session_scope(engine) as session:
        for p in nobody:
            row = session.get(outbox.Notification, p.row_id)
            result.counts[outbox.mark_failed(session, row, error="không xác định được người nhận")] += 1
    return result


async def _send_all(messages: list[tuple[Prepared, bytes]], settings: Settings, engine, *, now: datetime,
                    rules: TimeRules, domain: str, result: BatchResult) -> None:
    mailer = Mailer(settings)
    try:
        for start in range(0, len(messages), CHUNK):
            chunk = messages[start:start + CHUNK]
            outcomes = await asyncio.gather(
                *(mailer.send(msg, settings.mail_from, [p.email for p in prepared.to + prepared.cc])
                  for prepared, msg in chunk)
            )
            _record(engine, chunk, outcomes, now=now, rules=rules, domain=domain, settings=settings, result=result)
    finally:
        await mailer.close()


def _record(engine, chunk, outcomes: list[Outcome], *, now, rules, domain, settings, result: BatchResult) -> None:
    with session_scope(engine) as session:
        for (prepared, _msg), outcome in zip(chunk, outcomes):
            row = session.get(outbox.Notification, prepared.row_id)
            if outcome.state == "sent":
                recipients = {"to": [p.email for p in prepared.to], "cc": [p.email for p in prepared.cc]}
                if outcome.refused:
                    recipients["refused"] = outcome.refused
                note = "một số người nhận bị từ chối: " + "; ".join(outcome.refused) if outcome.refused else None
                outbox.mark_sent(session, row, now=now, recipients=recipients, rules=rules, domain=domain, note=note)
                result.counts["sent"] += 1
                result.sent.append({"at": now.isoformat(), "rung": prepared.rung, "directive": prepared.slug,
                                    "assignment": prepared.assignment_key, "to": recipients["to"],
                                    "cc": recipients["cc"], "message_id": prepared.message_id})
            elif outcome.state == "failed":
                result.counts[outbox.mark_failed(session, row, error=outcome.error or "")] += 1
            else:
                result.counts[outbox.mark_retry(session, row, now=now, error=outcome.error or "",
                                                max_attempts=settings.max_attempts)] += 1
