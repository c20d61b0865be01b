"""The script of agency responses that ``dondoc simulate`` plays back."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError, model_validator

from models.definition.definition import Code, IsoDate, Line, Text

# An assignment, or one period of a recurring report: monthly-report/2021-01, quarterly-report/2021-q1, yearly/2021.
AssignmentRef = Annotated[str, StringConstraints(
    pattern=r"^[a-z0-9][a-z0-9-]{0,63}(/[0-9]{4}(-(0[1-9]|1[0-2]|q[1-4]|h[12]))?)?$")]
from models.errors import DefinitionError
from models.definition.yamlsource import read_file, validation_problems


def _clock(value) -> time:
    if isinstance(value, int) and 0 <= value < 24 * 60:  # YAML 1.1 readers turn 10:00 into 600 minutes
        return time(value // 60, value % 60)
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} không phải là giờ hợp lệ (HH:MM)")


class Response(BaseModel):
    """One thing done on one day: a status (an agency's with ``by``, else the coordinator's), an extension asked
    for and granted, or the coordinator's review of a reported result."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    on: IsoDate
    at: Annotated[time, BeforeValidator(_clock)] = time(10, 0)
    assignment: AssignmentRef
    status: Literal["acknowledged", "in_progress", "done"] | None = None
    evidence: Line | None = None
    evidence_on: IsoDate | None = None
    note: Text | None = None
    extend: IsoDate | None = None
    review: Literal["accept", "return"] | None = None
    decline: Text | None = None  # the reason; with `by:` the declining lead
    reassign: list[Code] | None = None  # the new leads
    keep: Text | None = None  # the reason the coordinator keeps a declined assignment with its leads
    until: IsoDate | None = None
    reason: Text | None = None
    by: Line | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Response:
        if sum(x is not None for x in (self.status, self.extend, self.review, self.decline, self.reassign, self.keep)) != 1:
            raise ValueError("mỗi dòng cần đúng một trong: status, extend, review, decline, reassign, keep")
        if self.decline is not None and not self.by:
            raise ValueError("từ chối (decline) cần nêu đơn vị từ chối (by)")
        if self.reassign is not None and not (self.reassign and self.reason):
            raise ValueError("giao lại (reassign) cần danh sách đơn vị chủ trì mới và lý do (reason)")
        if self.extend is not None and not self.reason:
            raise ValueError("gia hạn (extend) cần có lý do (reason)")
        if self.review == "return" and not self.reason:
            raise ValueError("trả lại (review: return) cần có lý do (reason)")
        if self.until is not None and self.review != "return" and self.reassign is None:
            raise ValueError("until chỉ dùng khi trả lại (review: return) hoặc giao lại (reassign)")
        return self

    def moment(self, tz) -> datetime:
        return datetime.combine(self.on, self.at, tzinfo=tz)


def load_responses(path: Path, *, keys: set[str], start: date, until: date,
                   recurring: dict[str, str] | None = None) -> list[Response]:
    """Read and check a responses file: every problem named with its line; nothing is half-applied.

    ``recurring`` maps each recurring report's key to its ``every``: a row may name one of its periods.
    """
    from models.calendar.periods import by_name
    from models.calendar.workdays import WorkCalendar

    recurring = recurring or {}
    source, problems = read_file(path)
    items: list[Response] = []
    if source is not None:
        data = source.data if source.data is not None else []
        if not isinstance(data, list):
            problems.append(source.problem([], "tệp phản hồi phải là một danh sách các dòng {on, assignment, …}"))
        else:
            for i, raw in enumerate(data):
                try:
                    item = Response.model_validate(raw)
                except ValidationError as exc:
                    problems += validation_problems(source, exc, prefix=[i])
                    continue
                items.append(item)
                base, _, period = item.assignment.partition("/")
                if period and base in recurring:
                    if by_name(recurring[base], period, report_day=28, window="nd09", calendar=WorkCalendar()) is None:
                        problems.append(source.problem([i, "assignment"], f"{period!r} không phải là một kỳ của báo cáo "
                                                                          f"{base!r} (every: {recurring[base]})"))
                elif period:
                    problems.append(source.problem([i, "assignment"], f"{base!r} không phải là báo cáo định kỳ; "
                                                                      "chỉ báo cáo định kỳ mới ghi kỳ sau dấu /"))
                elif item.assignment not in keys:
                    problems.append(source.problem([i, "assignment"], f"không có nhiệm vụ {item.assignment!r}"))
                if not start <= item.on <= until:
                    problems.append(source.problem(
                        [i, "on"], f"ngày {item.on:%d/%m/%Y} nằm ngoài khoảng mô phỏng {start:%d/%m/%Y}–{until:%d/%m/%Y}"))
    if problems:
        raise DefinitionError(problems)
    return sorted(items, key=lambda r: (r.on, r.at))
