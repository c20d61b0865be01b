"""The YAML schema of agency registries and directives (documented in docs/schema.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from models.definition.kinds import KINDS
from models.textcheck import Kind, normalise_newlines, number_problem, problem


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
        raise ValueError(f"{value!r} không phải là ngày hợp lệ (YYYY-MM-DD)")
    raise ValueError("phải là một ngày (YYYY-MM-DD)")


def _known_kind(value: Any) -> Any:
    if isinstance(value, str) and value not in KINDS:
        raise ValueError(f"loại nhiệm vụ {value!r} không được hỗ trợ; các loại: {', '.join(sorted(KINDS))}")
    return value


def _typed_as(kind: Kind) -> BeforeValidator:
    """The text rules of ``models.textcheck`` for one kind of field; a note's line breaks become ``\n``.

    It runs before pydantic strips whitespace: Python counts U+001C–U+001F and U+0085 as
    whitespace, and a control character at either end must be refused, not silently dropped.
    Only the spaces and line ends that YAML itself leaves around a scalar are set aside.
    """
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        bad = problem(value.strip(" \t\r\n"), kind)
        if bad:
            raise ValueError(bad)
        return normalise_newlines(value) if kind == "note" else value
    return BeforeValidator(check)


def _document_number(value: str) -> str:
    bad = number_problem(value)
    if bad:
        raise ValueError(bad)
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
# Free text over several lines (an assignment's action, a difficulty): no control but tab and newline, no bidi override.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), _typed_as("note")]
# One line (names, titles, subject, place, signature): no control or invisible character at all.
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), _typed_as("line")]
# A số, ký hiệu such as 2550/STTTT-BCTT.
DocumentNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
                           AfterValidator(_document_number), _typed_as("number")]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
KindName = Annotated[str, BeforeValidator(_known_kind)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HeadDef(_Strict):
    title: Line
    name: Line | None = None
    email: EmailStr


class AgencyDef(_Strict):
    code: Code
    name: Line
    short_names: list[Line] = Field(default_factory=list)
    parent: Line | None = None
    email: EmailStr
    head: HeadDef


class RatingDef(_Strict):
    """One class of the agency rating scale: a completion rate of at least ``min`` earns ``name``."""

    min: Annotated[float, Field(ge=0, le=1)]
    name: Line


class RegistryDef(_Strict):
    registry: Key
    title: Line
    provincial_office: Code | None = None
    ratings: list[RatingDef] = Field(default_factory=list)  # highest first; none: the default scale (models/oversight)
    agencies: list[AgencyDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _ratings_descend(self) -> RegistryDef:
        floors = [r.min for r in self.ratings]
        if floors != sorted(set(floors), reverse=True):
            raise ValueError("ratings: các mức xếp loại phải theo thứ tự min giảm dần, không trùng nhau")
        if self.ratings and floors[-1] != 0:
            raise ValueError("ratings: mức cuối cùng phải có min: 0, để cơ quan nào cũng được xếp loại")
        return self


class AssignmentDef(_Strict):
    key: Key
    title: Line
    action: Text
    kind: KindName = "generic"
    leads: list[Code] = Field(min_length=1)
    supporting: list[Code] = Field(default_factory=list)
    due: IsoDate | None = None  # exactly one of due and due_in (models/definition/loader.py says so, with the line)
    due_in: Annotated[int, Field(ge=1, le=250)] | None = None  # working days after the day it starts
    depends_on: list[Key] = Field(default_factory=list)  # needs their results, is not held back by them
    after: list[Key] = Field(default_factory=list)  # waits until each of them is done or cancelled
    # A recurring report (models/calendar/periods.py): one occurrence per period, each with its own due date.
    every: Literal["month", "quarter", "half-year", "year"] | None = None
    report_day: Annotated[int, Field(ge=1, le=28)] | None = None  # the day of the due month the report is due
    until: IsoDate | None = None  # the last period's due date may not pass it; without it: until the directive closes
    window: Literal["nd09", "calendar"] = "nd09"  # Decree 09/2019's data periods, or calendar ones


Audience = Literal["leads", "supporting", "lead-heads", "director", "provincial-office", "coordinator", "participants"]
RungName = Literal["notice", "reminder", "due-soon", "overdue", "escalation", "report-up"]


class RungDef(_Strict):
    """One rung of the escalation ladder; ``offset`` counts working days from the due date."""

    rung: RungName
    offset: Literal["launch"] | Annotated[int, Field(ge=-60, le=60)]
    repeat: Annotated[int, Field(ge=1, le=60)] | None = None
    to: list[Audience] = Field(min_length=1)
    cc: list[Audience] = Field(default_factory=list)
    template: RungName | None = None

    @model_validator(mode="after")
    def _launch_does_not_repeat(self) -> RungDef:
        if self.offset == "launch" and self.repeat is not None:
            raise ValueError("bậc gửi lúc khởi tạo (offset: launch) không lặp lại được")
        # The notice is the message of the launch; every other rung is dated from the due date,
        # so an extension can re-plan exactly the dated ones.
        if (self.rung == "notice") != (self.offset == "launch"):
            raise ValueError("chỉ bậc notice được gửi lúc khởi tạo (offset: launch), và bậc notice chỉ gửi lúc đó")
        return self

    @property
    def template_name(self) -> str:
        return self.template or self.rung


class SignatureDef(_Strict):
    """The signature block: e.g. KT. GIÁM ĐỐC / PHÓ GIÁM ĐỐC / Hồ Văn Dân."""

    authority: Line | None = None
    title: Line
    name: Line


class ReportDef(_Strict):
    """How reports on the directive are numbered, addressed and argued (Decree 30/2020/NĐ-CP layout)."""

    symbol: Line | None = None  # e.g. BC-STTTT; default: "BC-" and the issuer's part of the number
    number: Line = "…"  # the number is given by the văn thư when the report is issued
    copies: list[Line] = Field(default_factory=list)  # Nơi nhận, after "Như trên;"
    difficulties: list[Text] = Field(default_factory=list)
    proposals: list[Text] = Field(default_factory=list)


class DirectiveDef(_Strict):
    number: DocumentNumber
    issued_on: IsoDate
    issuer: Code
    subject: Line
    place: Line
    registry: Line
    report_to: list[Code] = Field(default_factory=list)
    milestone: Key | None = None
    review: bool = False  # an agency's reported completion waits for the coordinator's acceptance
    review_within: Annotated[int, Field(ge=1, le=60)] = 2  # working days before the coordinator is asked again
    ack_within: Annotated[int, Field(ge=0, le=30)] = 1  # working days a lead has to take any action; 0: off
    signature: SignatureDef | None = None
    report: ReportDef | None = None
    ladder: list[RungDef] | None = None
    assignments: list[AssignmentDef] = Field(min_length=1)
