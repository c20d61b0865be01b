"""Drawing tables and summaries for people at a terminal."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from models.queries import StatusRow
from models.status import FLAG_LABELS, LABELS
from models.tables import Directive
from models.textcheck import shown

# Rich has no "orange" by that name in 8-colour terminals; dark_orange is close.
STYLE = {"red": "bold red", "orange": "dark_orange", "blue": "blue", "green": "green", "grey": "grey50"}


def plain(value: object, *, multiline: bool = False) -> Text:
    """Stored or typed text, shown as typed.

    A ``Text`` is never read as Rich markup or emoji codes (so ``[/]`` cannot
    break a table and ``[link=…]`` makes no hyperlink), and ``shown`` turns
    every control character into a visible code, so no escape sequence
    reaches the terminal.
    """
    return Text(shown("" if value is None else str(value), multiline=multiline))


def safe(value: object) -> str:
    """The same, for a value placed inside a line that is itself Rich markup."""
    return escape(shown(str(value)))


def days_text(days: int | None) -> str:
    if days is None:
        return ""
    if days > 0:
        return f" {days} ngày"
    return ", đến hạn hôm nay" if days == 0 else f", còn {-days} ngày"


def status_table(directive: Directive, rows: list[StatusRow], today_label: str) -> Table:
    state = "đã kết thúc" if directive.status == "closed" else "đang theo dõi"
    table = Table(
        title=plain(f"Văn bản số {directive.number} — {state}"),
        caption=Text.assemble(plain(f"V/v {directive.subject}"),
                              f"\nTính đến {today_label}; số ngày là ngày làm việc. ★ mốc hoàn thành."),
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
            plain(key),
            plain(", ".join(row.leads)),
            f"{row.due:%d/%m/%Y}",
            LABELS[row.status],
            Text(f"{FLAG_LABELS[row.flag]}{days_text(row.overdue_working_days)}", style=style),
            plain(evidence),
        )
    return table


def directives_table(items: list[tuple[Directive, list[StatusRow]]]) -> Table:
    table = Table(title="Các văn bản chỉ đạo", title_justify="left")
    for header in ("Slug", "Số", "Trạng thái", "Nhiệm vụ", "Hoàn thành", "Quá hạn"):
        table.add_column(header)
    for directive, rows in items:
        table.add_row(
            plain(directive.slug),
            plain(directive.number),
            "đã kết thúc" if directive.status == "closed" else "đang theo dõi",
            str(len(rows)),
            str(sum(r.status == "done" for r in rows)),
            str(sum(r.flag == "overdue" for r in rows)),
        )
    return table


def local_time(value: datetime, tz: ZoneInfo) -> str:
    return f"{value.astimezone(tz):%d/%m/%Y %H:%M}"
