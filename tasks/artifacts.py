"""Prefect artifacts: the directive's status table, each assignment's brief, and the board."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from models.store.db import transaction
from models.definition.kinds import KINDS
from models.oversight.board import board_is_current, build_board, last_event_id, mark_board
from models.lifecycle.queries import agency_map, get_directive, stale_directives, status_rows
from models.store.tables import Directive
from models.settings import get_settings
from models.lifecycle.status import FLAG_LABELS, LABELS, TALLY_LABELS, due_text, shown_counts, tally, waiting_text
from models.calendar.timerules import TimeRules
from notifications.board import board_description, board_markdown
from notifications.wording import markdown_text as md


CHUNK = 100  # status artifacts published between two commits of their directives' published_at


def _days(value: int | None) -> str:
    if value is None:
        return ""
    if value > 0:
        return f"quá hạn {value} ngày"
    return "đến hạn hôm nay" if value == 0 else f"còn {-value} ngày"


def _publish(session, directive: Directive, now: datetime, rules: TimeRules, names: dict[str, str]) -> list[dict]:
    rows = status_rows(session, directive=directive, now=now, rules=rules)
    # The Prefect UI renders Markdown and HTML in cells and descriptions; agencies supply some of this text.
    table = [
        {
            "Nhiệm vụ": md(row.title),
            "Khóa": row.key,
            "Đơn vị chủ trì": md(", ".join(names.get(c, c) for c in row.leads)),
            "Đơn vị phối hợp": md(", ".join(names.get(c, c) for c in row.supporting)),
            "Thời hạn": due_text(row.due, row.due_in),
            "Trạng thái": LABELS[row.status] + (f" ({waiting_text(row.waiting_for)})" if row.waiting_for else ""),
            "Tình hình": FLAG_LABELS[row.flag],
            "Số ngày làm việc": _days(row.overdue_working_days),
            "Kết quả": md(row.evidence or "") + (f" ngày {row.evidence_on:%d/%m/%Y}" if row.evidence_on else ""),
        }
        for row in rows
    ]
    state = "đã kết thúc" if directive.status == "closed" else "đang theo dõi"
    counts = tally([row.flag for row in rows])
    summary = " · ".join(f"{TALLY_LABELS[k]}: {v}" for k, v in shown_counts(counts))
    create_table_artifact(
        key=f"directive-{directive.slug}",
        table=table,
        description=f"Tình hình thực hiện văn bản số {md(directive.number)} ({state}), "
        f"cập nhật {now.astimezone(rules.tz):%H:%M %d/%m/%Y}. {summary}. V/v {md(directive.subject)}",
    )
    directive.published_at = now
    session.add(directive)
    return [row.as_json() for row in rows]


@task(name="publish-status", retries=2, retry_delay_seconds=1)
def publish_status(slug: str, now: datetime) -> list[dict]:
    """Publish the directive's status as the table artifact ``directive-<slug>``."""
    rules = TimeRules.from_settings(get_settings())
    with transaction() as session:
        names = {code: agency.name for code, agency in agency_map(session).items()}
        return _publish(session, get_directive(session, slug=slug), now, rules, names)


@task(name="publish-statuses", retries=2, retry_delay_seconds=1)
def publish_statuses(now: datetime) -> int:
    """Refresh the status artifacts of directives whose table may have changed, most telling first.

    At most DONDOC_ARTIFACTS_PER_SWEEP at a time, recorded every CHUNK: the
    first sweep of a day on a large install finds every open directive stale
    (its working-day counts moved) and Prefect takes about 50 artifacts a
    second here, so later sweeps finish the rest, and a failure midway keeps
    what was already published instead of starting over on retry.
    """
    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    with transaction(settings) as session:
        stale = stale_directives(session, now=now, rules=rules, limit=settings.artifacts_per_sweep)
        names = {code: agency.name for code, agency in agency_map(session).items()} if stale else {}
    for start in range(0, len(stale), CHUNK):
        with transaction(settings) as session:
            for directive_id in stale[start:start + CHUNK]:
                _publish(session, session.get(Directive, directive_id), now, rules, names)
    return len(stale)


@task(name="publish-board", retries=2, retry_delay_seconds=1)
def publish_board(now: datetime) -> bool:
    """Refresh the markdown artifact ``board`` (overdue, due soon, waiting on the coordinator, the agency
    table), unless the one published earlier today still holds: no event since. Returns whether it published.

    The events read are noted before the board is built, so one recorded meanwhile makes the next sweep
    rebuild; and after the artifact is created, so a failed publish is retried by the next sweep.
    """
    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    with transaction(settings) as session:
        if board_is_current(session, now=now, rules=rules):
            return False
        seen = last_event_id(session)
        board = build_board(session, now=now, rules=rules)
    create_markdown_artifact(key="board", markdown=board_markdown(board, tz=rules.tz),
                             description=board_description(board, tz=rules.tz))
    with transaction(settings) as session:
        mark_board(session, now=now, event_id=seen)
    return True


@task(name="publish-brief", retries=2, retry_delay_seconds=1)
def publish_brief(brief: dict) -> None:
    """Publish what the assignment asks and what will close it, as ``assignment-<slug>-<key>``."""
    kind = KINDS[brief["kind"]]
    # Coordinator-supplied text must not become markup in the Prefect UI.
    brief = {k: md(v) if isinstance(v, str) else [md(x) for x in v] if isinstance(v, list) else v
             for k, v in brief.items()}
    lines = [
        f"# {brief['title']}",
        "",
        f"**Văn bản:** số {brief['number']} — V/v {brief['subject']}",
        "",
        f"> {brief['action']}",
        "",
        f"- **Chủ trì:** {', '.join(brief['leads'])}",
        f"- **Phối hợp:** {', '.join(brief['supporting']) or '—'}",
        f"- **Thời hạn:** {brief['due']}",
        f"- **Kết quả cần có:** {kind.deliverable}",
        "",
        "## Các bước",
        *[f"{i}. {step}" for i, step in enumerate(kind.checklist, 1)],
    ]
    create_markdown_artifact(
        key=f"assignment-{brief['slug']}-{brief['key'].replace('/', '-')}"[:120],  # artifact keys: [a-z0-9-]
        markdown="\n".join(lines),
        description=f"{brief['key']} · {brief['number']}",
    )


@task(name="publish-launch-summary", retries=2, retry_delay_seconds=1)
def publish_launch_summary(launched: list[dict], refused: list[dict], now: datetime) -> None:
    """What a bulk launch did, as the markdown artifact ``launch-summary``."""
    lines = [f"# Khởi tạo {len(launched)} văn bản, từ chối {len(refused)}", ""]
    if refused:
        lines += ["## Bị từ chối", ""]
        for item in refused:
            lines += [f"- {md(item['path'])}"]
            lines += [f"  - {md(problem)}" for problem in item["refused"][:20]]
        lines.append("")
    lines += ["## Đã khởi tạo", "", "| Slug | Số | Nhiệm vụ |", "|---|---|---:|"]
    lines += [f"| {r['slug']} | {md(r['number'])} | {r['assignments']} |" for r in launched[:2000]]
    create_markdown_artifact(key="launch-summary", markdown="\n".join(lines),
                             description=f"Khởi tạo hàng loạt lúc {now:%H:%M %d/%m/%Y}")
