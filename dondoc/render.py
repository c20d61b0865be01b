"""Drawing tables and summaries for people at a terminal."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from models.lifecycle.status import FLAG_LABELS, LABELS, due_text, waiting_text
from models.textcheck import shown

from models.calendar.periods import EVERY_WORDS

if TYPE_CHECKING:  # the tables are mapped by whoever queried them; a drawing needs only their attributes
    from models.lifecycle.queries import SeriesRow, StatusRow
    from models.store.tables import Directive

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


ROLE_LABELS = {"lead": "chủ trì", "supporting": "phối hợp", "lead-head": "thủ trưởng cơ quan chủ trì", "head": "thủ trưởng"}


def unreachable_lines(rows: list[StatusRow]) -> list[Text]:
    """One line per address a message did not reach: the assignment, who, the address and the server's reply."""
    lines = []
    for row in rows:
        for u in row.unreachable:
            role = ROLE_LABELS.get(u["role"])
            who = f"{u['agency'] or ''}{f' ({role})' if role else ''}"
            lines.append(Text.assemble("✗ ", plain(f"{row.key}: {who} <{u['address']}> — {u['error']}"),
                                       style="red" if u["role"] == "lead" else ""))
    return lines


def status_table(directive: Directive, rows: list[StatusRow | SeriesRow], today_label: str) -> Table:
    state = "đã kết thúc" if directive.status == "closed" else "đang theo dõi"
    caption = [plain(f"V/v {directive.subject}"), f"\nTính đến {today_label}; số ngày là ngày làm việc. ★ mốc hoàn thành."]
    lines = unreachable_lines([o for r in rows for o in (r.occurrences if hasattr(r, "occurrences") else [r])])
    if lines:
        caption.append("\nKhông gửi được thư (xem: dondoc outbox --state failed; sửa địa chỉ rồi chạy dondoc agencies, "
                       "hoặc dondoc outbox retry):")
        for line in lines:
            caption += ["\n  ", line]
    table = Table(
        title=plain(f"Văn bản số {directive.number} — {state}"),
        caption=Text.assemble(*caption),
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Nhiệm vụ", no_wrap=True)
    table.add_column("Chủ trì", overflow="fold")
    table.add_column("Hạn", no_wrap=True)
    for header in ("Trạng thái", "Tình hình", "Kết quả"):
        table.add_column(header, overflow="fold")
    for row in rows:
        if hasattr(row, "occurrences"):
            table.add_row(*_series_cells(row))
            continue
        style = STYLE[row.colour]
        evidence = row.evidence or ""
        if row.evidence_on:
            evidence += f" ({row.evidence_on:%d/%m/%Y})"
        key = row.key + (" ★" if row.milestone else "")
        unreachable = {u["agency"] for u in row.unreachable if u["role"] == "lead"}
        leads = Text(", ").join(
            Text.assemble(plain(code), *([(" (không nhận được thư)", "bold red")] if code in unreachable else []),
                          *([(" (chưa xác nhận tiếp nhận)", "dark_orange")] if code in row.unacknowledged else []))
            for code in row.leads)
        table.add_row(
            plain(key),
            leads,
            due_text(row.due, row.due_in),
            Text.assemble(LABELS[row.status], *([("\n" + waiting_text(row.waiting_for), "dim")] if row.waiting_for else [])),
            Text(f"{FLAG_LABELS[row.flag]}{days_text(row.overdue_working_days)}", style=style),
            plain(evidence),
        )
    return table


SERIES_LABELS = {"waiting": "Chờ", "active": "Đang theo dõi", "ended": "Đã hết kỳ", "cancelled": "Đã dừng"}


def counts_text(counts: dict[str, int]) -> str:
    return f"đúng hạn {counts['on_time']}, trễ hạn {counts['late']}, thiếu {counts['missing']}"


def _series_cells(row: SeriesRow) -> tuple:
    """A recurring report's one line: its current period, and how its periods went."""
    schedule = Text.assemble(plain(f"{row.key} ↻"), (f"\n{EVERY_WORDS[row.every]}, ngày {row.report_day}", "dim"))
    current = row.current
    if current is None:
        return (schedule, plain(", ".join(row.leads)), "",
                Text.assemble(SERIES_LABELS[row.status], *([("\n" + waiting_text(row.waiting_for), "dim")]
                                                           if row.waiting_for else [])),
                Text(FLAG_LABELS["waiting"], style=STYLE["grey"]), "")
    return (schedule, plain(", ".join(current.leads)), due_text(current.due),
            Text.assemble(f"kỳ {current.period}: {LABELS[current.status]}",
                          *([("\n" + SERIES_LABELS[row.status], "dim")] if row.status != "active" else [])),
            Text(f"{FLAG_LABELS[current.flag]}{days_text(current.overdue_working_days)}", style=STYLE[current.colour]),
            plain(counts_text(row.counts)))


def occurrences_table(row: SeriesRow) -> Table:
    """The periods of one recurring report, oldest first (`dondoc status SLUG --occurrences`)."""
    table = Table(title=plain(f"{row.key}: {row.title} — {EVERY_WORDS[row.every]}, hạn ngày {row.report_day}"),
                  caption=counts_text(row.counts), title_justify="left", caption_justify="left")
    for header in ("Kỳ", "Số liệu", "Hạn", "Trạng thái", "Tình hình", "Kết quả"):
        table.add_column(header, overflow="fold")
    for r in row.occurrences:
        evidence = (r.evidence or "") + (f" ({r.evidence_on:%d/%m/%Y})" if r.evidence_on else "")
        table.add_row(plain(r.period), f"{r.window_from:%d/%m/%Y}–{r.window_to:%d/%m/%Y}", due_text(r.due),
                      LABELS[r.status], Text(f"{FLAG_LABELS[r.flag]}{days_text(r.overdue_working_days)}",
                                             style=STYLE[r.colour]), plain(evidence))
    return table


def directives_table(items: list[tuple[Directive, list[StatusRow]]]) -> Table:
    table = Table(title="Các văn bản chỉ đạo", title_justify="left")
    for header in ("Slug", "Số", "Trạng thái", "Nhiệm vụ", "Hoàn thành", "Quá hạn", "Chủ trì không nhận được thư"):
        table.add_column(header)
    for directive, rows in items:
        unreached = sum(any(u["role"] == "lead" for u in r.unreachable) for r in rows)
        table.add_row(
            plain(directive.slug),
            plain(directive.number),
            "đã kết thúc" if directive.status == "closed" else "đang theo dõi",
            str(len(rows)),
            str(sum(r.status == "done" for r in rows)),
            str(sum(r.flag == "overdue" for r in rows)),
            Text(str(unreached), style="bold red" if unreached else ""),
        )
    return table


SCORE_HEADERS = ("Hạng", "Cơ quan", "Được giao", "Đúng hạn", "Trễ hạn", "Trong hạn", "Quá hạn", "Tỷ lệ",
                 "Trễ TB", "Chưa tiếp nhận", "Gia hạn (xin/được)", "Trả lại", "Xếp loại")


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%".replace(".", ",")


def scorecard_table(found, name: str | None, today) -> Table:
    """The agencies' scorecard (`dondoc scorecard`): one row per lead agency, ranked."""
    start, end = found.span
    t = found.totals
    table = Table(title=f"Đánh giá thực hiện nhiệm vụ {('kỳ ' + name) if name else ''} "
                        f"(hạn từ {start:%d/%m/%Y} đến {end:%d/%m/%Y})",
                  caption=f"Tính đến {today:%d/%m/%Y}. {t['assigned']} nhiệm vụ: đúng hạn {t['on_time']}, trễ hạn "
                          f"{t['late']}, trong hạn {t['open_in_time']}, quá hạn {t['open_overdue']}, dừng theo dõi "
                          f"{t['cancelled']}. Tỷ lệ = hoàn thành đúng hạn ÷ đã đến hạn; trễ TB: ngày làm việc.",
                  title_justify="left", caption_justify="left")
    for header in SCORE_HEADERS:
        table.add_column(header, overflow="fold", justify="right" if header not in ("Cơ quan", "Xếp loại") else "left")
    for r in found.rows:
        late = "" if r.avg_days_late is None else f"{r.avg_days_late:.1f}".replace(".", ",")
        table.add_row(str(r.rank), plain(f"{r.name} ({r.agency})"), str(r.assigned), str(r.on_time), str(r.late),
                      str(r.open_in_time), Text(str(r.open_overdue), style="bold red" if r.open_overdue else ""),
                      percent(r.completion_rate), late, str(r.unacknowledged),
                      f"{r.extensions_asked}/{r.extensions_granted}", str(r.returned), plain(r.rating))
    return table


def local_time(value: datetime, tz: ZoneInfo) -> str:
    return f"{value.astimezone(tz):%d/%m/%Y %H:%M}"
