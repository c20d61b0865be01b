"""Tasks of a sweep: tidy and plan, dispatch in batches, refresh status artifacts."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from models.store.db import open_database, transaction
from models.lifecycle.occurrences import open_due
from models.lifecycle.planning import mail_domain, plan_digests
from models.settings import get_settings
from models.calendar.timerules import TimeRules
from notifications import outbox
from notifications.dispatch import dispatch_batch
from notifications.links import ReplyLinks


@task(name="prepare-sweep")
def prepare_sweep(now: datetime) -> dict:
    """Open the periods of recurring reports that are due, cancel rows that must not go out, skip those a later rung superseded (catching up), plan today's digests."""
    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    with transaction(settings) as session:
        # The periods whose day has come open first, so their rows are planned before anything is claimed.
        opened = open_due(session, now=now, rules=rules, domain=mail_domain(settings.mail_from))
        cancelled = outbox.tidy(session, now=now)
        skipped = outbox.skip_superseded(session, now=now, rules=rules)
        digests = plan_digests(session, now=now, rules=rules, domain=mail_domain(settings.mail_from))
    return {"cancelled": cancelled, "skipped": skipped, "digests": digests, "opened": opened}


@task(name="dispatch-batch")
def dispatch(now: datetime, limit: int | None = None, collect: bool = False) -> dict:
    """Claim a batch of due notifications, send them over SMTP and record each outcome."""
    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    result = dispatch_batch(open_database(settings.database_url), now=now, settings=settings, rules=rules,
                            links=reply_links(settings), limit=limit, collect=collect)
    return {"claimed": result.claimed, "counts": dict(result.counts), "delivered": result.delivered, "sent": result.sent,
            "limit": limit or settings.batch_size, "unavailable": result.unavailable, "escalated": result.escalated}


def reply_links(settings):
    """Messages to lead agencies carry signed links to their reply page."""
    return ReplyLinks.from_settings(settings)
