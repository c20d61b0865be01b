"""Coordinator actions on one assignment: record an update, extend a due date."""

from __future__ import annotations

from datetime import date, datetime

from prefect import flow

from flows.runtime import directive_tags, label_current_run, resolve_now
from tasks.artifacts import publish_status
from tasks.directives import extend_assignment_task, record_update_task


@flow(name="record-update", flow_run_name="record · {slug}/{key} → {status}")
def record_update(
    slug: str,
    key: str,
    status: str,
    evidence: str | None = None,
    evidence_on: date | None = None,
    note: str | None = None,
    actor: str = "coordinator",
    now: datetime | None = None,
) -> dict:
    """Record what an agency reported. Recording the milestone as done closes the directive."""
    now = resolve_now(now)
    label_current_run(directive_tags(slug))
    result = record_update_task(slug=slug, key=key, status=status, now=now, actor=actor,
                                evidence=evidence, evidence_on=evidence_on, note=note)
    publish_status(slug, now)
    return result


@flow(name="extend-assignment", flow_run_name="extend · {slug}/{key}")
def extend_assignment(
    slug: str,
    key: str,
    until: date,
    reason: str,
    actor: str = "coordinator",
    now: datetime | None = None,
) -> dict:
    """Give an assignment a later due date."""
    now = resolve_now(now)
    label_current_run(directive_tags(slug))
    result = extend_assignment_task(slug=slug, key=key, until=until, reason=reason, now=now, actor=actor)
    publish_status(slug, now)
    return result
