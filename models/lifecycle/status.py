"""The life of an assignment, and the views derived from its dates.

    waiting → assigned → acknowledged → in_progress → done
                                          ↘ reported → done (accepted)
                                                     → in_progress (returned)
    any open state → declined (a lead: "not our function") → assigned (reassigned) or back (kept)
    any unfinished state → cancelled

A step with ``after`` waits ("Chờ") until each step it names is done or
cancelled; it starts, as ``assigned``, in the transaction that finishes the
last of them (models/lifecycle/steps.py). Nobody records on a waiting step.
With review on, an agency's completion is ``reported`` ("Chờ xác nhận") until
the coordinator accepts or returns it (models/lifecycle/review.py).

``overdue``, ``due soon`` and ``done late`` are never stored: they follow from
the due date, the completion date and ``today``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models.errors import IllegalTransition
from models.calendar.workdays import WorkCalendar

OPEN = ("assigned", "acknowledged", "in_progress")
CLOSED = ("done", "cancelled")
WAITING = "waiting"
REPORTED = "reported"
DECLINED = "declined"
UNFINISHED = (WAITING, *OPEN, REPORTED, DECLINED)  # what closing a directive cancels
STATUSES = (WAITING, *OPEN, REPORTED, DECLINED, *CLOSED)
_RANK = {"assigned": 0, "acknowledged": 1, "in_progress": 2, "done": 3}

LABELS = {
    "waiting": "Chờ",
    "assigned": "Đã giao",
    "acknowledged": "Đã tiếp nhận",
    "in_progress": "Đang thực hiện",
    "reported": "Chờ xác nhận",
    "declined": "Bị từ chối",
    "done": "Hoàn thành",
    "cancelled": "Đã hủy",
}

DUE_SOON_DAYS = 3


def check_transition(current: str, new: str) -> None:
    """Refuse a move the life cycle does not allow.

    Forward moves may skip a step (an agency may report completion without
    acknowledging first); a progress report may repeat; nothing moves back.
    """
    if new not in STATUSES:
        raise IllegalTransition(f"trạng thái {new!r} không hợp lệ; dùng một trong: {', '.join(STATUSES)}")
    if current == WAITING and new != "cancelled":
        raise IllegalTransition("nhiệm vụ đang chờ các nhiệm vụ trước hoàn thành; chưa thể ghi nhận")
    if current == DECLINED and new != "cancelled":
        raise IllegalTransition("đơn vị chủ trì đã từ chối nhiệm vụ; chờ cơ quan giao nhiệm vụ quyết định (dondoc reassign)")
    if current == REPORTED and new != "cancelled":
        raise IllegalTransition("kết quả đã được báo cáo và đang chờ xác nhận (dondoc review); chưa thể ghi nhận thêm")
    if current in CLOSED:
        raise IllegalTransition(f"nhiệm vụ đã ở trạng thái «{LABELS[current]}», không thể chuyển sang «{LABELS[new]}»")
    if new == "cancelled" or _RANK[new] > _RANK[current] or new == current == "in_progress":
        return
    raise IllegalTransition(f"không thể chuyển từ «{LABELS[current]}» sang «{LABELS[new]}»")


@dataclass(frozen=True)
class Standing:
    """Where an assignment stands on a given day."""

    flag: str  # overdue | due_soon | on_track | not_started | done_on_time | done_late | cancelled | waiting
    overdue_working_days: int | None  # positive: overdue; negative: days left; None once closed
    colour: str


_COLOURS = {
    "overdue": "red",
    "due_soon": "orange",
    "done_late": "orange",
    "on_track": "blue",
    "done_on_time": "green",
    "not_started": "grey",
    "cancelled": "grey",
    "waiting": "grey",
    "reported": "blue",
    "declined": "orange",
}

FLAG_LABELS = {
    "overdue": "Quá hạn",
    "due_soon": "Sắp đến hạn",
    "on_track": "Đang thực hiện, trong hạn",
    "not_started": "Chưa thực hiện",
    "done_on_time": "Hoàn thành đúng hạn",
    "done_late": "Hoàn thành quá hạn",
    "cancelled": "Đã hủy",
    "waiting": "Chờ nhiệm vụ trước",
    "reported": "Đã báo cáo, chờ xác nhận",
    "declined": "Bị từ chối, chờ quyết định giao lại",
}


def standing(*, status: str, due: date | None, done_on: date | None, today: date, calendar: WorkCalendar) -> Standing:
    """Derive the flag and colour of an assignment (DESIGN.md §6)."""
    if status == "cancelled":
        flag, days = "cancelled", None
    elif status == WAITING or due is None:
        flag, days = "waiting", None
    elif status == REPORTED:
        flag, days = "reported", None
    elif status == DECLINED:
        flag, days = "declined", None
    elif status == "done":
        flag, days = ("done_late" if done_on is not None and done_on > due else "done_on_time"), None
    else:
        days = calendar.working_days_between(due, today)
        if days > 0:
            flag = "overdue"
        elif -days <= DUE_SOON_DAYS:
            flag = "due_soon"
        else:
            flag = "on_track" if status == "in_progress" else "not_started"
    return Standing(flag=flag, overdue_working_days=days, colour=_COLOURS[flag])


def tally(flags: list[str]) -> dict[str, int]:
    """The counts every summary shows (digest, report, Prefect artifact), from the same flags."""
    return {
        "assigned": len(flags),
        "done_on_time": flags.count("done_on_time"),
        "done_late": flags.count("done_late"),
        "in_progress": sum(f in ("on_track", "due_soon", "not_started") for f in flags),
        "overdue": flags.count("overdue"),
        "cancelled": flags.count("cancelled"),
        "waiting": flags.count("waiting"),
        "reported": flags.count("reported"),
        "declined": flags.count("declined"),
    }


def shown_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    """The counts a summary prints: cancelled and waiting steps only where there are some."""
    return [(k, v) for k, v in counts.items() if k not in ("cancelled", "waiting", "reported", "declined") or v]


TALLY_LABELS = {
    "assigned": "Tổng số nhiệm vụ",
    "done_on_time": "Hoàn thành đúng hạn",
    "done_late": "Hoàn thành quá hạn",
    "in_progress": "Đang thực hiện, trong hạn",
    "overdue": "Quá hạn",
    "cancelled": "Dừng theo dõi",
    "waiting": "Chờ nhiệm vụ trước",
    "reported": "Đã báo cáo, chờ xác nhận",
    "declined": "Bị từ chối, chờ quyết định giao lại",
}


def ready(after: list[str], statuses: dict[str, str]) -> bool:
    """Whether a step waiting for the steps ``after`` may start, given each sibling's status by key."""
    return all(statuses.get(key) in CLOSED for key in after)


def waiting_for(after: list[str], statuses: dict[str, str]) -> list[str]:
    """The steps a waiting step still waits for, in the order its definition lists them."""
    return [key for key in after if statuses.get(key) not in CLOSED]


def due_text(due: date | None, due_in: int | None = None) -> str:
    """A due date as a table shows it; a step still waiting with due_in has only its count of days."""
    if due is not None:
        return f"{due:%d/%m/%Y}"
    return f"{due_in} ngày làm việc sau khi bắt đầu" if due_in else "chưa xác định"


def waiting_text(keys: list[str]) -> str:
    """What a waiting step waits for, as a table shows it."""
    return "chờ: " + ", ".join(keys) if keys else ""


def rung_applies(rung: str, status: str) -> bool:
    """Whether the next occurrence of a repeating rung is still wanted for an assignment in ``status``.

    The review request repeats while a result waits for the coordinator; every other rung while the
    assignment is open.
    """
    return status == REPORTED if rung == "review-request" else status in OPEN
