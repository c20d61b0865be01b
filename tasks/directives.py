"""Tasks that write directives and assignments. They take and return plain values."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from prefect import task

from models.store.db import transaction
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file, load_directive_text
from models.lifecycle.planning import mail_domain
from models.errors import DefinitionError, InputError, NotFound
from models.lifecycle.queries import agencies_of
from models.settings import get_settings
from models.store.tables import Assignment, Directive
from models.calendar.timerules import TimeRules
from models.lifecycle.status import due_text
from models.lifecycle.extensions import decide_extension, request_extension
from models.lifecycle.refusal import decline, reassign
from models.lifecycle.review import review_result
from models.lifecycle.updates import record_update


def _rules() -> TimeRules:
    return TimeRules.from_settings(get_settings())


def _domain() -> str:
    return mail_domain(get_settings().mail_from)


@task(name="store-directive")
def store_directive(*, now: datetime, actor: str, path: str | None = None, text: str | None = None,
                    source_name: str = "<pasted>", base_dir: str = "directives", within: str | None = None) -> dict:
    """Validate a definition and write the directive and its assignments in one transaction.

    With ``within``, the registry the definition names must lie in that folder (a deployment run).
    """
    folder = Path(within) if within is not None else None
    if path is not None:
        loaded = load_directive_file(Path(path), within=folder)
    else:
        loaded = load_directive_text(text or "", name=source_name, base_dir=Path(base_dir), within=folder)
    with transaction() as session:
        launched = launch_directive(session, loaded=loaded, now=now, rules=_rules(), actor=actor, mail_domain=_domain())
    spec = loaded.directive
    return {
        "slug": launched.slug,
        "number": launched.number,
        "subject": spec.subject,
        "assignments": [
            {"id": assignment_id, "key": item.key, "kind": item.kind, "title": item.title, "action": item.action,
             "leads": list(item.leads), "supporting": list(item.supporting)}
            for (assignment_id, _, _), item in zip(launched.assignments, spec.assignments)
        ],
        "moved": [{"key": k, "stated": s.isoformat(), "due": d.isoformat()} for k, s, d in launched.moved],
    }


@task(name="store-directives")
def store_directives(paths: list[str], *, now: datetime, actor: str) -> list[dict]:
    """Validate and launch each file in its own transaction; a refused file does not stop the others."""
    rules, domain = _rules(), _domain()
    results = []
    for path in paths:
        try:
            loaded = load_directive_file(Path(path))
            with transaction() as session:
                launched = launch_directive(session, loaded=loaded, now=now, rules=rules, actor=actor, mail_domain=domain)
            results.append({"path": path, "slug": launched.slug, "number": launched.number,
                            "assignments": len(launched.assignments)})
        except DefinitionError as exc:
            results.append({"path": path, "refused": [str(p) for p in exc.problems]})
        except InputError as exc:
            results.append({"path": path, "refused": [f"{path}: {exc}"]})
    return results


@task(name="brief-assignment")
def brief_assignment(assignment_id: int) -> dict:
    """What one assignment asks of whom, by when."""
    with transaction() as session:
        assignment = session.get(Assignment, assignment_id)
        if assignment is None:
            raise NotFound(f"assignment {assignment_id} does not exist")
        d = session.get(Directive, assignment.directive_id)
        roles = agencies_of(session, [assignment_id])[assignment_id]
        return {
            "slug": d.slug, "number": d.number, "subject": d.subject, "key": assignment.key,
            "kind": assignment.kind, "title": assignment.title, "action": assignment.action,
            "leads": roles["lead"], "supporting": roles["supporting"], "due": due_text(assignment.due, assignment.due_in),
            "status": assignment.status,
        }


@task(name="record-update")
def record_update_task(*, slug: str, key: str, status: str, now: datetime, actor: str,
                       evidence: str | None = None, evidence_on: date | None = None, note: str | None = None,
                       by_agency: bool = False) -> dict:
    """Record what an agency reported; the milestone's completion closes the directive."""
    with transaction() as session:
        result = record_update(session, slug=slug, key=key, status=status, now=now, rules=_rules(), actor=actor,
                               evidence=evidence, evidence_on=evidence_on, note=note, mail_domain=_domain(),
                               by_agency=by_agency)
    return {"slug": result.slug, "key": result.key, "status": result.status, "closed": result.closed,
            "cancelled": result.cancelled, "open_dependencies": result.open_dependencies, "started": result.started}


@task(name="review-result")
def review_result_task(*, slug: str, key: str, accept: bool, now: datetime, actor: str, reason: str | None = None,
                       until: date | None = None) -> dict:
    """Accept a reported result, or return it with the reason (and maybe a new due date)."""
    with transaction() as session:
        result = review_result(session, slug=slug, key=key, accept=accept, reason=reason, until=until, now=now,
                               rules=_rules(), actor=actor, mail_domain=_domain())
    return {"slug": result.slug, "key": result.key, "accepted": result.accepted, "status": result.status,
            "due": result.due.isoformat() if result.due else None, "closed": result.closed,
            "cancelled": result.cancelled, "started": result.started}


@task(name="decide-extension")
def decide_extension_task(*, slug: str, key: str, approve: bool, reason: str, now: datetime, actor: str,
                          until: date | None = None) -> dict:
    """Approve or refuse an extension; approving moves the due date and re-plans the ladder."""
    with transaction() as session:
        return decide_extension(session, slug=slug, key=key, approve=approve, reason=reason, until=until, now=now,
                                rules=_rules(), actor=actor, mail_domain=_domain())


@task(name="request-extension")
def request_extension_task(*, slug: str, key: str, agency: str, until: date, reason: str, now: datetime) -> dict:
    """Record an agency's request for more time; the coordinator is told."""
    with transaction() as session:
        request = request_extension(session, slug=slug, key=key, agency=agency, until=until, reason=reason, now=now,
                                    rules=_rules(), mail_domain=_domain())
        return {"request": request.id, "until": request.until.isoformat()}



@task(name="reassign-assignment")
def reassign_task(*, slug: str, key: str, reason: str, now: datetime, actor: str, leads: list[str] | None = None,
                  supporting: list[str] | None = None, until: date | None = None, keep: bool = False) -> dict:
    """Give a declined (or any open) assignment to other leads, or keep it with its leads."""
    with transaction() as session:
        result = reassign(session, slug=slug, key=key, reason=reason, now=now, rules=_rules(), actor=actor, leads=leads,
                          supporting=supporting, until=until, keep=keep, mail_domain=_domain())
    return {"slug": result.slug, "key": result.key, "leads": result.leads, "supporting": result.supporting,
            "due": result.due.isoformat(), "kept": result.kept}


@task(name="decline-assignment")
def decline_task(*, slug: str, key: str, agency: str, reason: str, now: datetime) -> dict:
    """A lead declines its assignment as not within its functions (as on its reply page)."""
    with transaction() as session:
        decline(session, slug=slug, key=key, agency=agency, reason=reason, now=now, rules=_rules(), mail_domain=_domain())
    return {"slug": slug, "key": key, "declined_by": agency}
