"""What supervisors ask across all directives: agency scorecards (and, with `report --period`, the period report)."""

from __future__ import annotations

from typing import Annotated

import typer

from dondoc.app import JsonOption, NowOption, app, err, out, print_json


def resolve_span(period: str | None, start: str | None, until: str | None, today):
    """The dates a command covers: --period, or --from/--until; by default, the current year up to today."""
    from datetime import date

    from dondoc.timeargs import parse_date
    from models.calendar.periods import span_of
    from models.errors import InputError

    if period is not None and (start is not None or until is not None):
        raise InputError("--period không dùng cùng --from/--until; chọn một trong hai cách")
    if period is not None:
        span = span_of(period)
        if span is None:
            raise InputError(f"--period: {period!r} không phải là một kỳ; dùng 2021-01 (tháng), 2021-q1 (quý), "
                             "2021-h1 (6 tháng) hoặc 2021 (năm)")
        return span, period.strip().lower()
    first = parse_date(start, "--from") or date(today.year, 1, 1)
    last = parse_date(until, "--until") or (today if start is not None or until is None else None)
    if last is None:
        last = today
    if first > last:
        raise InputError(f"--from {first:%d/%m/%Y} sau --until {last:%d/%m/%Y}")
    return (first, last), None


@app.command()
def scorecard(
    period: Annotated[str | None, typer.Option("--period", help="Kỳ: 2021-01 (tháng), 2021-q1 (quý), 2021-h1 (6 tháng) hoặc 2021 (năm).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Từ ngày (YYYY-MM-DD), thay cho --period.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Đến ngày (YYYY-MM-DD), thay cho --period.")] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="Chỉ một cơ quan (mã, ví dụ sxd).")] = None,
    issuer: Annotated[str | None, typer.Option("--issuer", help="Chỉ các văn bản do cơ quan này ban hành (mã).")] = None,
    as_json: JsonOption = False,
    now: NowOption = None,
) -> None:
    """Bảng đánh giá các cơ quan chủ trì: nhiệm vụ đến hạn trong kỳ, hoàn thành đúng hạn, trễ hạn, đang thực hiện
    trong hạn, quá hạn, tỷ lệ hoàn thành đúng hạn, số ngày trễ bình quân, xếp hạng và xếp loại.

    Số liệu tính theo nhật ký đến thời điểm --now; mặc định: từ đầu năm đến hôm nay.
    """
    from dondoc import render
    from dondoc.timeargs import parse_now
    from models.calendar.timerules import TimeRules
    from models.oversight.figures import figures
    from models.settings import get_settings
    from models.store.db import transaction

    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    moment = parse_now(now, settings.tz)
    span, name = resolve_span(period, start, until, rules.today(moment))
    with transaction(settings) as session:
        found = figures(session, span=span, now=moment, rules=rules, agency=agency, issuer=issuer,
                        details=False)
    if as_json:
        print_json([row.as_json() for row in found.rows])
        return
    if not found.rows:
        err.print(f"Không có nhiệm vụ nào đến hạn từ {span[0]:%d/%m/%Y} đến {span[1]:%d/%m/%Y}.")
        return
    out.print(render.scorecard_table(found, name, rules.today(moment)))
