"""Drawing tables and summaries for people at a terminal."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.table import Table

from models.queries import StatusRow
from models.status import FLAG_LABELS, LABELS
from models.tables import Directive

# Rich has no "orange" by that name in 8-colour terminals; dark_orange is close.
STYLE = {"red": "bold red", "orange": "dark_orange", "blue": "blue", "green": "green", "grey": "grey50"}


def days_text(days: int | None) -> str:
    if days is None:
        return ""
    if days > 0:
        return f" {days} ngày"
    return ", đến hạn hôm nay" if days == 0 else f", còn {-days} ngày"


def status_table(directive: Directive, rows: list[StatusRow], today_label: str) -> Table:
    state = "đã kết thúc" if directive.status == "closed" else "đang theo dõi"
    table = Table(
        title=f"Văn bản số {directive.number} — {state}",
        caption=f"V/v {directive.subject}\nTính đến {today_label}; số ngày là ngày làm việc. ★ mốc hoàn thành.",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Nhiệm vụ", no_wrap=True)
    table.add_column("Chủ trì", overflow="fold")
    table.add_column("Hạn", no_wrap=True)
    for header in ("Trạng thái", "Tình hình", "Kết quả"):
        table.add_column(header, overflow="fold")
    for row in rows:
        style = STYLE[row.colour]
        evidence = row.evidence or ""
        if row.evidence_on:
            evidence += f" ({row.evidence_on:%d/%m/%Y})"
        key = row.key + (" ★" if row.milestone else "")
        table.add_row(
            key,
            ", ".join(row.leads),
            f"{row.due:%d/%m/%Y}",
            LABELS[row.status],
            f"[{style}]{FLAG_LABELS[row.flag]}{days_text(row.overdue_working_days)}[/]",
            evidence,
        )
    return table


def directives_table(items: list[tuple[Directive, list[StatusRow]]]) -> Table:
    table = Table(title="Các văn bản chỉ đạo", title_justify="left")
    for header in ("Slug", "Số", "Trạng thái", "Nhiệm vụ", "Hoàn thành", "Quá hạn"):
        table.add_column(header)
    for directive, rows in items:
        table.add_row(
            directive.slug,
            directive.number,
            "đã kết thúc" if directive.status == "closed" else "đang theo dõi",
            str(len(rows)),
            str(sum(r.status == "done" for r in rows)),
            str(sum(r.flag == "overdue" for r in rows)),
        )
    return table


def local_time(value: datetime, tz: ZoneInfo) -> str:
    return f"{value.astimezone(tz):%d/%m/%Y %H:%M}"
