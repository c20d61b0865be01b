"""The báo cáo to the Telecom Authority, laid out as Decree 30/2020/NĐ-CP asks, in md, html or docx."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from models.definition.definition import ReportDef
from models.lifecycle.extensions import pending_requests
from models.lifecycle.queries import StatusRow, agency_map, get_directive, status_rows
from models.lifecycle.status import (FLAG_LABELS, TALLY_LABELS, WAITING, due_text, shown_counts, standing, tally,
                                     waiting_for, waiting_text)
from models.oversight.asof import as_of
from models.textcheck import shown
from models.calendar.timerules import TimeRules
from notifications.templating import environment
from notifications.timeline import days_off_between, lanes_from_db, timeline_svg
from notifications.wording import dmy, long_date

NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


@dataclass
class Report:
    parent: str
    issuer: str
    number_line: str
    place_date: str
    subject: str
    recipients: list[str]
    intro: str
    counts: dict[str, int]
    count_lines: list[tuple[str, int]]
    rows: list[dict[str, Any]]
    difficulties: list[str]
    proposals: list[str]
    copies: list[str]
    signature: dict[str, str | None]
    timeline: str = ""
    filename_stem: str = field(default="bao-cao")


def _report_settings(stored: dict[str, Any]) -> ReportDef:
    """The report settings as launched: valid then, so a text rule added since must not stop the report now."""
    try:
        return ReportDef.model_validate(stored)
    except ValidationError:
        return ReportDef.model_construct(**{k: v for k, v in stored.items() if k in ReportDef.model_fields})


def build_report(session: Session, *, slug: str, now: datetime, rules: TimeRules, with_timeline: bool = True) -> Report:
    directive = get_directive(session, slug=slug)
    spec = directive.definition
    config = _report_settings(spec.get("report") or {})
    agencies = agency_map(session)
    issuer = agencies.get(directive.issuer)
    name = lambda code: agencies[code].name if code in agencies else code  # noqa: E731
    today = rules.today(now)
    rows = rows_as_of(session, directive=directive, rows=status_rows(session, directive=directive, now=now, rules=rules),
                      now=now, rules=rules)
    counts = tally([r.flag for r in rows])
    issuer_symbol = directive.number.partition("/")[2].split("-")[0] or directive.issuer.upper()
    symbol = config.symbol or f"BC-{issuer_symbol}"
    recipients = [name(c) for c in spec.get("report_to", [])] or ["Cục Viễn thông"]
    signature = spec.get("signature") or {"authority": None,
                                          "title": (issuer.head_title if issuer else "").upper(),
                                          "name": (issuer.head_name or "") if issuer else ""}

    table = []
    for i, r in enumerate(rows, 1):
        state = FLAG_LABELS[r.flag]
        if r.flag == "overdue":
            state += f" {r.overdue_working_days} ngày làm việc"
        elif r.waiting_for:
            state += f" ({waiting_text(r.waiting_for)})"
        table.append({
            "index": i, "agency": "; ".join(name(c) for c in r.leads), "action": r.title,
            "due": dmy(r.due) or due_text(None, r.due_in),
            "status": state, "evidence": r.evidence or "", "evidence_on": dmy(r.evidence_on) or dmy(r.done_on),
            "key": r.key, "flag": r.flag,
        })

    difficulties = []
    for r in rows:
        leads = "; ".join(name(c) for c in r.leads)
        if r.flag == "overdue":
            difficulties.append(f"Nhiệm vụ «{r.title}» do {leads} chủ trì đã quá hạn {r.overdue_working_days} "
                                f"ngày làm việc (hạn {dmy(r.due)}), chưa có văn bản báo cáo kết quả.")
        elif r.flag == "done_late":
            difficulties.append(f"Nhiệm vụ «{r.title}» do {leads} chủ trì hoàn thành chậm so với thời hạn {dmy(r.due)}.")
        elif r.flag == "cancelled":
            difficulties.append(f"Nhiệm vụ «{r.title}» do {leads} chủ trì chưa hoàn thành khi kết thúc theo dõi.")
    for request in pending_requests(session, directive_id=directive.id):
        difficulties.append(f"{name(request.agency)} đề nghị gia hạn nhiệm vụ «{request.key}» đến {dmy(request.until)}: "
                            f"{request.reason}")
    difficulties += config.difficulties
    if not difficulties:
        difficulties.append("Không có khó khăn, vướng mắc phát sinh.")

    proposals = list(config.proposals)
    late = [r for r in rows if r.flag in ("overdue", "cancelled")]
    if late:
        proposals.insert(0, "Đề nghị UBND tỉnh chỉ đạo " + "; ".join(sorted({name(c) for r in late for c in r.leads}))
                         + " khẩn trương hoàn thành nhiệm vụ được giao và báo cáo kết quả.")
    proposals.append(f"Đề nghị {recipients[0]} tổng hợp, theo dõi và hỗ trợ địa phương.")

    subject = (f"Tình hình thực hiện Văn bản số {directive.number} ngày {dmy(directive.issued_on)} của "
               f"{name(directive.issuer)} về việc {directive.subject[:1].lower() + directive.subject[1:]}")
    intro = (f"Thực hiện Văn bản số {directive.number} ngày {dmy(directive.issued_on)} của {name(directive.issuer)} "
             f"về việc {directive.subject[:1].lower() + directive.subject[1:]}, {name(directive.issuer)} báo cáo "
             f"tình hình thực hiện các nhiệm vụ đến {long_date(today)} như sau:")
    timeline = ""
    if with_timeline:
        lanes, closed_on = lanes_from_db(session, directive, until=now, rules=rules)
        start = rules.today(directive.launched_at)
        timeline = timeline_svg(title=f"Dòng thời gian đôn đốc — {directive.number}", start=start, end=today,
                                lanes=lanes, days_off=days_off_between(start, today, rules), closed_on=closed_on)
    return _as_shown(Report(
        parent=(issuer.parent or "").upper() if issuer else "",
        issuer=(issuer.name if issuer else directive.issuer).upper(),
        number_line=f"Số: {config.number}/{symbol}",
        place_date=f"{directive.place}, {long_date(today)}",
        subject=subject,
        recipients=recipients,
        intro=intro,
        counts=counts,
        count_lines=[(TALLY_LABELS[k], v) for k, v in shown_counts(counts)],
        rows=table,
        difficulties=difficulties,
        proposals=proposals,
        copies=["Như trên;", *[c.rstrip(";.") + ";" for c in config.copies[:-1]],
                *[c.rstrip(";.") + "." for c in config.copies[-1:]]] if config.copies else ["Như trên;", "Lưu: VT."],
        signature={"authority": signature.get("authority"), "title": signature["title"], "name": signature["name"]},
        timeline=timeline,
        filename_stem=f"bao-cao-{directive.slug}-{today:%Y%m%d}",
    ))


def rows_as_of(session: Session, *, directive, rows: list[StatusRow], now: datetime, rules: TimeRules) -> list[StatusRow]:
    """The status rows as they stood at ``now``, replayed from the audit trail (models/oversight/asof.py).

    A report dated D tells the truth as of D: an assignment done after D is open in it, a due date extended
    after D has its old date, and one that did not exist yet is not in it.
    """
    states = {s.key: s for s in as_of(session, at=now, directive_id=directive.id)}
    statuses = {key: s.status for key, s in states.items()}
    today = rules.today(now)
    restated = []
    for row in rows:
        s = states.get(row.key)
        if s is None:
            continue
        if (s.status, s.due, s.done_on, s.reported_on, s.evidence, s.evidence_on, tuple(s.leads)) == \
                (row.status, row.due, row.done_on, row.reported_on, row.evidence, row.evidence_on, tuple(row.leads)):
            restated.append(row)
            continue
        look = standing(status=s.status, due=s.due, done_on=s.done_on, today=today, calendar=rules.calendar)
        restated.append(replace(row, status=s.status, due=s.due, done_on=s.done_on, reported_on=s.reported_on,
                                evidence=s.evidence, evidence_on=s.evidence_on, leads=list(s.leads),
                                supporting=list(s.supporting), flag=look.flag, colour=look.colour,
                                overdue_working_days=look.overdue_working_days,
                                waiting_for=waiting_for(row.after, statuses) if s.status == WAITING else []))
    return restated


# Free texts of several lines; every other text of the report is one line.
_MULTILINE = frozenset({"difficulties", "proposals"})
# Drawn markup (SVG), built from shown texts and escaped by its own template.
_DRAWN = frozenset({"timeline", "chart"})


def as_shown(report):
    """The report with every stored text made printable (``textcheck.shown``).

    Old rows may hold what input now refuses: a .docx cannot hold a control
    character at all (python-docx refuses it), and md, html and the Prefect
    artifact must not carry one either. The timeline (or a period report's chart) is drawn markup, safe on its
    own. Any report dataclass: the per-directive ``Report`` and the period report's.
    """
    def clean(value: Any, multiline: bool) -> Any:
        if isinstance(value, str):
            return shown(value, multiline=multiline)
        if isinstance(value, (list, tuple)):
            return type(value)(clean(v, multiline) for v in value)
        if isinstance(value, dict):
            return {k: clean(v, multiline) for k, v in value.items()}
        return value

    return replace(report, **{f.name: clean(getattr(report, f.name), f.name in _MULTILINE)
                              for f in fields(report) if f.name not in _DRAWN})


_as_shown = as_shown


def to_markdown(report: Report) -> str:
    return environment().get_template("report.md.j2").render(report=report)


def to_html(report: Report) -> str:
    return environment().get_template("report.html.j2").render(report=report)


def render_report(slug: str, fmt: str, now: datetime) -> tuple[bytes, str]:
    """The report's bytes in ``fmt`` (md, html, docx), and its Markdown (what the Prefect UI shows)."""
    from models.store.db import transaction
    from models.settings import get_settings

    rules = TimeRules.from_settings(get_settings())
    with transaction() as session:
        report = build_report(session, slug=slug, now=now, rules=rules, with_timeline=fmt == "html")
    markdown = to_markdown(report)
    if fmt == "md":
        return markdown.encode("utf-8"), markdown
    if fmt == "html":
        return to_html(report).encode("utf-8"), markdown
    from notifications.docx_report import to_docx  # python-docx only when a .docx is asked for

    return to_docx(report), markdown


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` in one step: a reader sees the old file or the new one, never half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".report-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(slug: str, fmt: str, target: Path, now: datetime) -> tuple[dict, str]:
    """Render the report and write it to ``target``; returns what was written and the report's Markdown.

    Shared by the `write-report` task (which also publishes the Markdown as an
    artifact) and by `dondoc report`, which writes the file without Prefect.
    """
    data, markdown = render_report(slug, fmt, now)
    write_atomically(target, data)
    return {"path": str(target), "bytes": len(data), "format": fmt}, markdown
