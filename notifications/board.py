"""The board as Markdown, for the Prefect artifact ``board`` (tasks/artifacts.py ``publish_board``).

Readable at 1,000 open directives: each list shows its first ``limit`` lines and counts the rest. The
colours of DESIGN.md §6 are coloured circles (plain Unicode, so the mark reads the same in any Markdown
renderer, and needs no HTML that the Prefect UI might strip), always next to the words they stand for.
Every piece of text an agency or a coordinator typed (numbers, titles, agency names, rating names) goes
through ``markdown_text``, as in the status artifacts.
"""

from __future__ import annotations

from models.oversight.board import SOON_DAYS, Board, Item, Waiting
from notifications.wording import markdown_text as md

LIMIT = 20

# DESIGN.md §6: red overdue, orange due soon or done late, blue in progress and on time, green done on time,
# grey not started (the colour names of models.lifecycle.status._COLOURS).
MARKS = {"red": "🔴", "orange": "🟠", "blue": "🔵", "green": "🟢", "grey": "⚪"}
LEGEND = ("🔴 quá hạn · 🟠 sắp đến hạn (≤ 3 ngày làm việc) hoặc bị từ chối · 🔵 đang thực hiện trong hạn, "
          "chờ xác nhận · 🟢 hoàn thành đúng hạn · ⚪ chưa thực hiện")
WAITING_WORDS = {"review": "Xem xét kết quả", "decision": "Quyết định giao lại hoặc giữ nguyên",
                 "extension": "Đề nghị gia hạn"}


def _rest(total: int, shown: int, noun: str = "nhiệm vụ") -> list[str]:
    return [f"… và {total - shown} {noun} khác.", ""] if total > shown else [""]


def _agencies(codes, names: dict[str, str]) -> str:
    return md(", ".join(names.get(c, c) for c in codes)) or "—"


def _task(item: Item) -> str:
    return f"{md(item.title)} ({md(item.key)})"


def _due(item: Item) -> str:
    return f"{item.due:%d/%m/%Y}" if item.due else "—"


def _left(days: int) -> str:
    return "đến hạn hôm nay" if days == 0 else f"còn {-days} ngày làm việc"


def _waited(w: Waiting, tz) -> str:
    since = f"từ {w.since.astimezone(tz):%d/%m/%Y}"
    return f"{w.waited} ngày làm việc ({since})" if w.waited else f"trong ngày ({since})"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}".replace(".", ",")


def board_markdown(board: Board, *, tz, limit: int = LIMIT) -> str:
    names = board.names
    lines = [
        "# Bảng theo dõi nhiệm vụ",
        "",
        f"Cập nhật lúc {board.now.astimezone(tz):%H:%M} ngày {board.today:%d/%m/%Y}. Đang theo dõi "
        f"{board.directives} văn bản, {board.open} nhiệm vụ chưa hoàn thành: **{board.counts['overdue']} quá hạn**, "
        f"{board.counts['due_soon']} đến hạn trong {SOON_DAYS} ngày làm việc, {board.counts['waiting']} việc chờ "
        "cơ quan giao nhiệm vụ xử lý.",
        "",
        f"Ký hiệu: {LEGEND}.",
        "",
        f"## {MARKS['red']} Quá hạn ({board.counts['overdue']})",
        "",
        "Xếp theo số ngày làm việc quá hạn, nhiều nhất trước.",
        "",
    ]
    if board.overdue:
        lines += ["| | Văn bản | Nhiệm vụ | Đơn vị chủ trì | Thời hạn | Quá hạn |", "|---|---|---|---|---|---:|"]
        lines += [f"| {MARKS[i.colour]} | {md(i.number)} | {_task(i)} | {_agencies(i.leads, names)} | {_due(i)} "
                  f"| {i.days} ngày làm việc |" for i in board.overdue]
        lines += _rest(board.counts["overdue"], len(board.overdue))
    else:
        lines += ["Không có nhiệm vụ quá hạn.", ""]

    lines += [f"## {MARKS['orange']} Đến hạn trong {SOON_DAYS} ngày làm việc ({board.counts['due_soon']})", ""]
    if board.due_soon:
        lines += ["| | Văn bản | Nhiệm vụ | Đơn vị chủ trì | Thời hạn | Còn lại |", "|---|---|---|---|---|---:|"]
        lines += [f"| {MARKS[i.colour]} | {md(i.number)} | {_task(i)} | {_agencies(i.leads, names)} | {_due(i)} "
                  f"| {_left(i.days)} |" for i in board.due_soon]
        lines += _rest(board.counts["due_soon"], len(board.due_soon))
    else:
        lines += [f"Không có nhiệm vụ đến hạn trong {SOON_DAYS} ngày làm việc tới.", ""]

    lines += [f"## Chờ cơ quan giao nhiệm vụ xử lý ({board.counts['waiting']})", "",
              "Kết quả chờ xác nhận (dondoc review), đề nghị gia hạn (dondoc extend), đơn vị từ chối nhiệm vụ "
              "(dondoc reassign); chờ lâu nhất trước.", ""]
    if board.waiting:
        lines += ["| | Việc chờ | Văn bản | Nhiệm vụ | Đơn vị | Thời hạn | Đã chờ |", "|---|---|---|---|---|---|---:|"]
        for w in board.waiting:
            what = WAITING_WORDS[w.what] + (f" đến {w.until:%d/%m/%Y}" if w.until else "")
            who = _agencies([w.agency] if w.agency else w.item.leads, names)
            lines.append(f"| {MARKS[w.item.colour]} | {what} | {md(w.item.number)} | {_task(w.item)} | {who} "
                         f"| {_due(w.item)} | {_waited(w, tz)} |")
        lines += _rest(board.counts["waiting"], len(board.waiting), "việc")
    else:
        lines += ["Không có việc nào đang chờ.", ""]

    start, end = board.span
    lines += [f"## Các cơ quan chủ trì — nhiệm vụ có hạn trong năm {start.year}, tính đến {board.today:%d/%m/%Y}", "",
              f"Cùng số liệu với `dondoc scorecard --period {start.year}`; nhiều nhiệm vụ quá hạn nhất trước. "
              "Tỷ lệ = hoàn thành đúng hạn ÷ đã đến hạn; trễ TB: ngày làm việc.", ""]
    if board.agencies:
        lines += ["| Hạng | Cơ quan | Được giao | 🟢 Đúng hạn | 🟠 Trễ hạn | 🔵 Trong hạn | 🔴 Quá hạn | Tỷ lệ | Trễ TB "
                  "| Xếp loại |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in board.agencies[:limit]:
            rate = "—" if r.completion_rate is None else f"{_number(r.completion_rate * 100)}%"
            overdue = f"**{r.open_overdue}**" if r.open_overdue else "0"
            lines.append(f"| {r.rank} | {md(r.name)} ({md(r.agency)}) | {r.assigned} | {r.on_time} | {r.late} "
                         f"| {r.open_in_time} | {overdue} | {rate} | {_number(r.avg_days_late)} | {md(r.rating)} |")
        lines += _rest(len(board.agencies), min(limit, len(board.agencies)), "cơ quan")
    else:
        lines += [f"Chưa có nhiệm vụ nào có hạn trong năm {start.year}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def board_description(board: Board, *, tz) -> str:
    """The artifact's one-line description on the Artifacts page."""
    return (f"Quá hạn {board.counts['overdue']} · đến hạn trong {SOON_DAYS} ngày làm việc {board.counts['due_soon']} · "
            f"chờ xử lý {board.counts['waiting']} — cập nhật {board.now.astimezone(tz):%H:%M %d/%m/%Y}")
