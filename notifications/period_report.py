"""The period report (issue 14 §3): a báo cáo tình hình thực hiện nhiệm vụ over every directive, for a period.

Laid out as the per-directive report (Decree 30/2020/NĐ-CP; the same templates' frame and .docx code), with:
the summary counts, the agencies' scorecard, the overdue assignments with their directives, difficulties and
proposals, Nơi nhận and the signature block; the HTML adds a bar chart per agency. Every figure comes from
``models.oversight.figures.figures``, the one function behind ``dondoc scorecard``, as the audit trail stood
at the report's date.

Who signs, and to whom:
- with ``issuer``, only that agency's directives count, and it signs (its name, its head's title and name);
- without, every directive counts, and the provincial office of the agency registry signs (``provincial_office:``
  in the registry YAML, e.g. the Văn phòng UBND tỉnh), as the office that follows up the province's assigned tasks;
  with no such office, a generic Văn phòng UBND tỉnh heading with blank name.
- Kính gửi: the signer's parent body (e.g. Ủy ban nhân dân tỉnh); for a signer with none, the ``report_to`` of the
  directives counted; else Ủy ban nhân dân tỉnh.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from models.calendar.periods import span_label
from models.calendar.timerules import TimeRules
from models.oversight.figures import Figures, figures
from models.oversight.scorecard import LABELS, ScoreRow, classify
from models.store.tables import Agency, Directive, Registry
from models.textcheck import shown
from notifications.report import as_shown, write_atomically, _report_settings
from notifications.templating import environment
from notifications.timeline import STATUS_FILL
from notifications.wording import dmy, long_date

# The four columns, as the chart draws them: DESIGN.md §6 colours (those of the timeline).
CHART_COLUMNS = (("on_time", "Hoàn thành đúng hạn", STATUS_FILL["green"]),
                 ("late", "Hoàn thành trễ hạn", STATUS_FILL["orange"]),
                 ("open_in_time", "Đang thực hiện trong hạn", STATUS_FILL["blue"]),
                 ("open_overdue", "Quá hạn chưa hoàn thành", STATUS_FILL["red"]))
SCORE_COLUMNS = ("rank", "name", "assigned", "on_time", "late", "open_in_time", "open_overdue", "completion_rate",
                 "avg_days_late", "unacknowledged", "extensions_asked", "extensions_granted", "returned", "rating")
OVERDUE_HEADERS = ("TT", "Văn bản", "Nhiệm vụ", "Cơ quan chủ trì", "Thời hạn", "Số ngày quá hạn (ngày làm việc)")
TOTAL_LABELS = {"assigned": "Tổng số nhiệm vụ có thời hạn trong kỳ", "on_time": "Đã hoàn thành đúng hạn",
                "late": "Đã hoàn thành trễ hạn", "open_in_time": "Đang thực hiện, còn trong hạn",
                "open_overdue": "Quá hạn, chưa hoàn thành",
                "cancelled": "Dừng theo dõi (văn bản kết thúc hoặc nhiệm vụ bị hủy)"}
NO_DIFFICULTIES = "Không có khó khăn, vướng mắc phát sinh trong kỳ."
NO_PROPOSALS = "Không có đề xuất, kiến nghị."


@dataclass
class PeriodReport:
    parent: str
    issuer: str
    number_line: str
    place_date: str
    subject: str
    recipients: list[str]
    intro: str
    count_lines: list[tuple[str, str]]
    headers: list[str]
    scorecard: list[list[str]]  # one line of cells per agency, in rank order, as ``headers``
    overdue: list[dict[str, Any]]
    difficulties: list[str]
    proposals: list[str]
    copies: list[str]
    signature: dict[str, str | None]
    empty_text: str = ""  # nothing was due in the period: what the report says instead of its tables
    chart: str = ""
    filename_stem: str = field(default="bao-cao-ky")


def number(value: float | None, *, percent: bool = False) -> str:
    """A rate or an average, Vietnamese style (50,0%; 2,5); a dash where there is none."""
    if value is None:
        return "—"
    return (f"{value * 100:.1f}%" if percent else f"{value:.1f}").replace(".", ",")


def score_cells(row: ScoreRow) -> list[str]:
    cells = []
    for key in SCORE_COLUMNS:
        value = getattr(row, key)
        if key == "completion_rate":
            cells.append(number(value, percent=True))
        elif key == "avg_days_late":
            cells.append(number(value))
        elif key == "name":
            cells.append(f"{value} ({row.agency})")
        else:
            cells.append(str(value))
    return cells


def _signer(session: Session, issuer: str | None, directives: list[Directive]) -> tuple[Agency | None, str]:
    """Who signs, and the code of its symbol (see the module's docstring)."""
    if issuer is not None:
        return session.get(Agency, issuer), issuer
    registries = sorted({d.registry_name for d in directives})
    offices = [r.provincial_office for r in session.exec(select(Registry).order_by(Registry.name)).all()
               if r.provincial_office and (r.name in registries or not registries)]
    office = session.get(Agency, offices[0]) if offices else None
    return office, (office.code if office else "vp-ubnd")


def _dedup(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))


def build_period_report(session: Session, *, span: tuple[date, date], period: str | None, now: datetime,
                        rules: TimeRules, issuer: str | None = None, with_chart: bool = True,
                        found: Figures | None = None) -> PeriodReport:
    """The period report of ``span`` (named ``period``, e.g. 2021-q1, or None for --from/--until) as of ``now``."""
    found = found or figures(session, span=span, now=now, rules=rules, issuer=issuer)
    today = found.today
    ids = sorted({s.directive_id for s in found.states})
    directives = list(session.exec(select(Directive).where(Directive.id.in_(ids)).order_by(Directive.issued_on,
                                                                                           Directive.number)).all()) \
        if ids else []
    by_id = {d.id: d for d in directives}
    agencies = {a.code: a for a in session.exec(select(Agency)).all()}
    name = lambda code: agencies[code].name if code in agencies else code  # noqa: E731
    signer, code = _signer(session, issuer, directives)

    when = span_label(period) if period else f"từ ngày {span[0]:%d/%m/%Y} đến ngày {span[1]:%d/%m/%Y}"
    span_text = f"từ ngày {span[0]:%d/%m/%Y} đến ngày {span[1]:%d/%m/%Y}"
    signer_name = signer.name if signer else "Văn phòng Ủy ban nhân dân tỉnh"
    if signer is not None and signer.parent:
        recipients = [signer.parent]
    else:
        recipients = _dedup([name(c) for d in directives for c in d.definition.get("report_to", [])]) \
            or ["Ủy ban nhân dân tỉnh"]
    places = Counter(d.place for d in directives)
    place = places.most_common(1)[0][0] if places else ""
    if not place and signer is not None:
        registry = session.get(Registry, signer.registry_name)
        place = (registry.title if registry else "").removeprefix("Tỉnh ").removeprefix("Thành phố ")
    scope = f" của các văn bản do {name(issuer)} ban hành" if issuer else ""

    t = found.totals
    due_so_far = t["on_time"] + t["late"] + t["open_overdue"]
    count_lines = [("Số văn bản có nhiệm vụ đến hạn trong kỳ", str(len(directives)))]
    count_lines += [(TOTAL_LABELS[k], str(t[k])) for k in TOTAL_LABELS]
    count_lines.append(("Tỷ lệ hoàn thành đúng hạn (trên số nhiệm vụ đã đến hạn)",
                        number(t["on_time"] / due_so_far if due_so_far else None, percent=True)))

    overdue = []
    for s in found.states:
        if classify(s, today) != "open_overdue":
            continue
        directive = by_id.get(s.directive_id)
        overdue.append({"number": directive.number if directive else "", "title": s.title, "key": s.key,
                        "leads": "; ".join(name(c) for c in s.leads), "due": dmy(s.due),
                        "days": rules.calendar.working_days_between(s.due, s.reported_on or today)})
    overdue.sort(key=lambda o: (-o["days"], o["number"], o["key"]))
    for i, item in enumerate(overdue, 1):
        item["index"] = i

    configs = [_report_settings(d.definition.get("report") or {}) for d in directives]
    late_rows = [r for r in found.rows if r.open_overdue]
    difficulties = []
    if late_rows:
        difficulties.append(f"Còn {t['open_overdue']} nhiệm vụ quá hạn chưa hoàn thành, của: "
                            + "; ".join(f"{r.name} ({r.open_overdue})" for r in late_rows) + ".")
    difficulties += [c for config in configs for c in config.difficulties]
    difficulties = _dedup(difficulties) or [NO_DIFFICULTIES]
    proposals = []
    if late_rows:
        proposals.append(f"Đề nghị {recipients[0]} chỉ đạo " + "; ".join(r.name for r in late_rows)
                         + " khẩn trương hoàn thành các nhiệm vụ quá hạn và báo cáo kết quả.")
    proposals += [p for config in configs for p in config.proposals]
    proposals = _dedup(proposals) or [NO_PROPOSALS]

    copies = ["Như trên;"]
    if found.rows:
        copies.append("Các cơ quan chủ trì tại Mục I (để thực hiện);")
    copies.append("Lưu: VT.")

    signature = {"authority": None,
                 "title": (signer.head_title if signer else "Chánh Văn phòng").upper(),
                 "name": (signer.head_name or "") if signer else ""}
    chart = chart_svg(found.rows, title=f"Tình hình thực hiện nhiệm vụ theo cơ quan chủ trì — {when}") \
        if with_chart and found.rows else ""
    stem = f"bao-cao-ky-{period}" if period else f"bao-cao-{span[0]:%Y%m%d}-{span[1]:%Y%m%d}"
    return as_shown(PeriodReport(
        parent=((signer.parent or "") if signer else "Ủy ban nhân dân tỉnh").upper(),
        issuer=signer_name.upper(),
        number_line=f"Số: …/BC-{code.upper()}",
        place_date=f"{place or '…'}, {long_date(today)}",
        subject=f"Tình hình thực hiện nhiệm vụ được giao {when}",
        recipients=recipients,
        intro=(f"{signer_name} báo cáo tình hình thực hiện các nhiệm vụ có thời hạn {when} ({span_text}){scope}, "
               f"tính đến {long_date(today)}, theo nhật ký đôn đốc, như sau:"),
        count_lines=count_lines,
        headers=[LABELS[k] for k in SCORE_COLUMNS],
        scorecard=[score_cells(r) for r in found.rows],
        overdue=overdue,
        difficulties=difficulties,
        proposals=proposals,
        copies=copies,
        signature=signature,
        empty_text="" if found.states else f"Không có nhiệm vụ nào có thời hạn {when}{scope}.",
        chart=chart,
        filename_stem=f"{stem}-{today:%Y%m%d}",
    ))


def chart_svg(rows: list[ScoreRow], *, title: str) -> str:
    """A stacked bar per agency, in rank order: its on-time, late, open-in-time and overdue counts.

    The bars are the scorecard rows' own numbers (each segment carries them as ``data-value``); agency names
    are stored text, made printable here and escaped by the template (autoescaped .svg.j2).
    """
    left, width, bar, gap, top = 280, 420, 18, 10, 56
    widest = max((sum(getattr(r, k) for k, _, _ in CHART_COLUMNS) for r in rows), default=0) or 1
    bars = []
    for i, r in enumerate(rows):
        y, x, segments = top + i * (bar + gap), float(left), []
        for key, label, colour in CHART_COLUMNS:
            value = getattr(r, key)
            w = width * value / widest
            segments.append({"key": key, "label": label, "colour": colour, "value": value, "x": round(x, 1),
                             "width": round(w, 1)})
            x += w
        name = shown(r.name)
        bars.append({"y": y, "agency": shown(r.agency), "name": name if len(name) <= 40 else name[:39] + "…",
                     "full": name, "segments": segments, "end": round(x, 1),
                     "total": sum(s["value"] for s in segments)})
    return environment().get_template("period-chart.svg.j2").render(
        title=shown(title), width=left + width + 60, height=top + len(rows) * (bar + gap) + 10, left=left,
        bar=bar, bars=bars, legend=[{"label": label, "colour": colour, "x": i * 175}
                                    for i, (_, label, colour) in enumerate(CHART_COLUMNS)])


def to_markdown(report: PeriodReport) -> str:
    return environment().get_template("period-report.md.j2").render(report=report)


def to_html(report: PeriodReport) -> str:
    return environment().get_template("period-report.html.j2").render(report=report)


def to_docx(report: PeriodReport) -> bytes:
    from notifications.docx_report import decree_30, grid, _para

    def results(document, report: PeriodReport) -> None:
        _para(document, "1. Số liệu chung", italic=True)
        for label, value in report.count_lines:
            _para(document, f"- {label}: {value}.", indent=True, after=2)
        _para(document, "2. Kết quả thực hiện của các cơ quan chủ trì", italic=True)
        if report.scorecard:
            grid(document, tuple(report.headers), [tuple(cells) for cells in report.scorecard], size=9)
            _para(document, SCORE_NOTE, size=12, italic=True)
        else:
            _para(document, report.empty_text, indent=True)
        _para(document, "3. Các nhiệm vụ quá hạn, chưa hoàn thành", italic=True)
        if report.overdue:
            grid(document, OVERDUE_HEADERS, [(str(o["index"]), o["number"], f"{o['title']} ({o['key']})", o["leads"],
                                              o["due"], str(o["days"])) for o in report.overdue], size=11)
        else:
            _para(document, NO_OVERDUE, indent=True)

    return decree_30(report, results)


SCORE_NOTE = ("Ghi chú: nhiệm vụ có nhiều cơ quan chủ trì được tính cho từng cơ quan; tỷ lệ đúng hạn = hoàn thành "
              "đúng hạn ÷ số nhiệm vụ đã đến hạn; số ngày trễ tính theo ngày làm việc.")
NO_OVERDUE = "Không có nhiệm vụ quá hạn."


def render_period_report(span: tuple[date, date], period: str | None, fmt: str, now: datetime,
                         issuer: str | None = None) -> tuple[bytes, str]:
    """The period report's bytes in ``fmt`` (md, html, docx), and its Markdown."""
    from models.settings import get_settings
    from models.store.db import transaction

    rules = TimeRules.from_settings(get_settings())
    with transaction() as session:
        report = build_period_report(session, span=span, period=period, now=now, rules=rules, issuer=issuer,
                                     with_chart=fmt == "html")
    markdown = to_markdown(report)
    if fmt == "md":
        return markdown.encode("utf-8"), markdown
    if fmt == "html":
        return to_html(report).encode("utf-8"), markdown
    return to_docx(report), markdown


def write_period_report(span: tuple[date, date], period: str | None, fmt: str, target, now: datetime,
                        issuer: str | None = None) -> dict:
    data, _ = render_period_report(span, period, fmt, now, issuer)
    write_atomically(target, data)
    return {"path": str(target), "bytes": len(data), "format": fmt}
