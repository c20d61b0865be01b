"""Commands on directives and assignments: launch, status, record, extend, events, agencies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dondoc.app import JsonOption, NowOption, ReportFormat, Reported, app, err, out, print_json

# Each command imports what it uses when it runs: `dondoc --help` and the commands that only read
# must not pay for the models, the database layer or Prefect (tests/test_fast_commands.py).


@app.command()
def launch(
    files: Annotated[list[Path], typer.Argument(help="Tệp YAML của văn bản chỉ đạo, hoặc thư mục (mọi tệp *.yaml trong đó, trừ *.responses.yaml).")],
    now: NowOption = None,
    by: Annotated[str, typer.Option("--by", help="Người khởi tạo, ghi vào nhật ký.")] = "coordinator",
    as_json: JsonOption = False,
) -> None:
    """Khởi tạo văn bản chỉ đạo: kiểm tra tệp, tạo các nhiệm vụ trong một giao dịch và in slug.

    Tệp sai được từ chối (mã thoát 2), kèm mọi lỗi với tên tệp, trường và dòng; khi đó không ghi gì.
    Nhiều tệp hoặc một thư mục: mỗi tệp một giao dịch; cuối cùng in danh sách đã khởi tạo và bị từ chối.
    """
    from dondoc.timeargs import parse_now
    from models.settings import get_settings

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    paths = expand_directive_paths(files)
    if len(paths) == 1 and not files[0].is_dir():
        _launch_one(paths[0], moment, by, settings, as_json)
    else:
        _launch_many(paths, moment, by, as_json)


def expand_directive_paths(files: list[Path]) -> list[Path]:
    from models.errors import InputError

    paths: list[Path] = []
    for item in files:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.endswith(
                (".responses.yaml", ".responses.yml")) and p.is_file())
            if not found:
                raise InputError(f"{item}: thư mục không có tệp văn bản chỉ đạo (*.yaml)")
            paths += found
        elif item.exists():
            paths.append(item)
        else:
            raise InputError(f"{item}: không tìm thấy tệp")
    return list(dict.fromkeys(paths))


def _launch_one(file: Path, moment, by: str, settings, as_json: bool) -> None:
    from dondoc.actions import perform
    from dondoc.render import safe

    result = perform("launch_one", {"path": str(file.resolve()), "now": moment.isoformat(), "by": by})
    for moved in result["moved"]:
        err.print(f"Lưu ý: hạn của {safe(moved['key'])} ({moved['stated']}) rơi vào ngày nghỉ, chuyển sang {moved['due']}.")
    if as_json:
        print_json({"launched": [{"path": str(file), "slug": result["slug"], "number": result["number"],
                                  "assignments": len(result["assignments"])}], "refused": []})
        return
    err.print(f"Đã khởi tạo văn bản số {safe(result['number'])} với {len(result['assignments'])} nhiệm vụ.")
    out.print(result["slug"], markup=False)


def _launch_many(paths: list[Path], moment, by: str, as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dondoc.actions import perform
    from dondoc.render import safe
    from models.textcheck import shown

    show = not as_json and sys.stderr.isatty()
    progress = Progress(TextColumn("Khởi tạo"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=True) if show else None
    task_id = progress.add_task("launch", total=len(paths)) if progress else None
    try:
        if progress:
            progress.start()
        result = perform("launch_many", {"paths": [str(p.resolve()) for p in paths], "now": moment.isoformat(), "by": by},
                         progress=(lambda done, total: progress.update(task_id, completed=done)) if progress else None)
    finally:
        if progress:
            progress.stop()
    launched, refused = result["launched"], result["refused"]
    if as_json:
        print_json(result)
    else:
        for item in launched:
            out.print(item["slug"], markup=False)
        for item in refused:
            err.print(f"[bold red]Từ chối[/] {safe(item['path'])}:")
            for problem in item["refused"]:
                err.print(f"  {shown(problem)}", markup=False)
        total = sum(item["assignments"] for item in launched)
        err.print(f"Đã khởi tạo {len(launched)} văn bản ({total} nhiệm vụ); từ chối {len(refused)}.")
    if refused:
        raise typer.Exit(2)


@app.command()
def status(
    slug: Annotated[str | None, typer.Argument(help="Slug của văn bản, ví dụ 2550-stttt-bctt. Bỏ trống: mọi văn bản.")] = None,
    occurrences: Annotated[bool, typer.Option("--occurrences", help="Thêm bảng các kỳ của từng báo cáo định kỳ.")] = False,
    as_json: JsonOption = False,
    now: NowOption = None,
) -> None:
    """Tình hình thực hiện: mỗi nhiệm vụ một dòng, với hạn, trạng thái và số ngày làm việc quá hạn (âm: còn lại).

    Một báo cáo định kỳ là một dòng: kỳ hiện tại, và số kỳ đúng hạn, trễ hạn, thiếu; --occurrences liệt kê từng kỳ.
    """
    from dondoc import render
    from dondoc.timeargs import parse_now
    from models.store.db import transaction
    from models.lifecycle.queries import get_directive, list_directives, status_rows, status_view
    from models.settings import get_settings
    from models.calendar.timerules import TimeRules

    settings = get_settings()
    rules = TimeRules.from_settings(settings)
    moment = parse_now(now, settings.tz)
    with transaction(settings) as session:
        directives = [get_directive(session, slug=slug)] if slug else list_directives(session)
        items = [(d, status_rows(session, directive=d, now=moment, rules=rules)) for d in directives]
        # A recurring report is one row with its periods under it; counts over directives take each period.
        views = [status_view(session, directive=d, rows=rows) for d, rows in items]
    if as_json:
        if slug:
            print_json([row.as_json() for row in views[0]])
        else:
            print_json([{"slug": d.slug, "number": d.number, "status": d.status,
                          "assignments": [r.as_json() for r in view]} for (d, _), view in zip(items, views)])
        return
    if not items:
        err.print("Chưa có văn bản nào. Khởi tạo bằng: dondoc launch directives/2550-STTTT-BCTT.yaml")
        return
    today = f"{rules.today(moment):%d/%m/%Y}"
    if slug:
        out.print(render.status_table(items[0][0], views[0], today))
        for row in views[0] if occurrences else []:
            if hasattr(row, "occurrences"):
                out.print(render.occurrences_table(row))
    else:
        out.print(render.directives_table(items))


@app.command()
def record(
    target: Annotated[str, typer.Argument(metavar="SLUG/KEY[/KỲ]", help="Nhiệm vụ, ví dụ 2550-stttt-bctt/permit-review; một kỳ của báo cáo định kỳ: 45-kh-ubnd/vnpt-monthly/2021-02 (không ghi kỳ: kỳ cũ nhất còn mở).")],
    status_: Annotated[Reported, typer.Option("--status", help="acknowledged (đã tiếp nhận), in_progress (đang thực hiện) hoặc done (hoàn thành).")],
    evidence: Annotated[str | None, typer.Option("--evidence", help="Số, ký hiệu văn bản báo cáo kết quả, ví dụ 15/SXD-QLXD.")] = None,
    evidence_date: Annotated[str | None, typer.Option("--evidence-date", help="Ngày của văn bản báo cáo (YYYY-MM-DD). Mặc định: ngày ghi nhận.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Ghi chú.")] = None,
    by: Annotated[str, typer.Option("--by", help="Người hoặc đơn vị báo cáo, ghi vào nhật ký.")] = "coordinator",
    now: NowOption = None,
) -> None:
    """Ghi nhận báo cáo của cơ quan. Ghi nhận mốc hoàn thành là [bold]done[/] thì văn bản kết thúc."""
    from dondoc.render import safe
    from dondoc.timeargs import parse_date, parse_now, split_target
    from models.settings import get_settings

    settings = get_settings()
    slug, key = split_target(target)
    status_ = status_.value
    moment = parse_now(now, settings.tz)
    evidence_on = parse_date(evidence_date, "--evidence-date")
    from dondoc.actions import perform

    result = perform("record", {"slug": slug, "key": key, "status": status_, "evidence": evidence,
                                "evidence_on": evidence_on.isoformat() if evidence_on else None, "note": note,
                                "by": by, "now": moment.isoformat()})
    err.print(f"Đã ghi nhận {safe(slug)}/{safe(key)}: {status_}.")
    if result["open_dependencies"]:
        err.print(f"[dark_orange]Cảnh báo:[/] mốc hoàn thành được ghi nhận khi các nhiệm vụ sau chưa xong: {safe(', '.join(result['open_dependencies']))}.")
    if result["closed"]:
        cancelled = f" Các nhiệm vụ chưa xong được hủy: {', '.join(result['cancelled'])}." if result["cancelled"] else ""
        err.print(f"Văn bản {safe(slug)} đã kết thúc.{safe(cancelled)}")


@app.command()
def extend(
    target: Annotated[str, typer.Argument(metavar="SLUG/KEY[/KỲ]", help="Nhiệm vụ (hoặc một kỳ báo cáo) cần gia hạn.")],
    reason: Annotated[str, typer.Option("--reason", help="Lý do của quyết định.")],
    until: Annotated[str | None, typer.Option("--until", help="Hạn mới (YYYY-MM-DD); rơi vào ngày nghỉ thì chuyển sang ngày làm việc kế tiếp. Bỏ trống: ngày cơ quan đề nghị.")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Không đồng ý đề nghị gia hạn đang chờ.")] = False,
    by: Annotated[str, typer.Option("--by", help="Người quyết định.")] = "coordinator",
    now: NowOption = None,
) -> None:
    """Gia hạn một nhiệm vụ (duyệt đề nghị đang chờ, hoặc chủ động gia hạn), hoặc từ chối đề nghị (--reject).

    Hạn mới được áp dụng, lịch nhắc được lập lại và cơ quan chủ trì được thông báo bằng thư.
    """
    from dondoc.render import safe
    from dondoc.timeargs import parse_date, parse_now, split_target
    from models.settings import get_settings

    settings = get_settings()
    slug, key = split_target(target)
    moment = parse_now(now, settings.tz)
    new_due = parse_date(until, "--until")
    if reject and new_due is not None:
        raise typer.BadParameter("không dùng --until cùng --reject", param_hint="--until")
    from dondoc.actions import perform

    result = perform("extend", {"slug": slug, "key": key, "approve": not reject, "reason": reason,
                                "until": new_due.isoformat() if new_due else None, "by": by, "now": moment.isoformat()})
    if result["approved"]:
        err.print(f"Đã gia hạn {safe(slug)}/{safe(key)}: {result['previous']} → {result['due']}; đã thông báo đơn vị chủ trì.")
    else:
        err.print(f"Đã từ chối đề nghị gia hạn {safe(slug)}/{safe(key)}; đã thông báo đơn vị chủ trì.")


@app.command()
def review(
    target: Annotated[str, typer.Argument(metavar="SLUG/KEY[/KỲ]", help="Nhiệm vụ (hoặc một kỳ báo cáo) có kết quả đang chờ xác nhận.")],
    accept: Annotated[bool, typer.Option("--accept", help="Xác nhận hoàn thành; tính đúng hạn hay chậm theo ngày cơ quan báo cáo.")] = False,
    return_: Annotated[bool, typer.Option("--return", help="Trả lại, yêu cầu bổ sung (cần --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Lý do trả lại, yêu cầu bổ sung.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Ghi chú khi xác nhận.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Khi trả lại: hạn mới (YYYY-MM-DD); bỏ trống thì giữ hạn cũ.")] = None,
    by: Annotated[str, typer.Option("--by", help="Người xem xét, ghi vào nhật ký.")] = "coordinator",
    now: NowOption = None,
) -> None:
    """Xem xét kết quả cơ quan báo cáo (văn bản có review: true): xác nhận (--accept) hoặc trả lại (--return).

    Xác nhận: nhiệm vụ hoàn thành vào ngày cơ quan báo cáo; xác nhận mốc hoàn thành thì văn bản kết thúc.
    Trả lại: nhiệm vụ trở về «Đang thực hiện», lịch nhắc được lập lại; cơ quan chủ trì được thông báo bằng thư.
    """
    from dondoc.render import safe
    from dondoc.timeargs import parse_date, parse_now, split_target
    from models.settings import get_settings

    if accept == return_:
        raise typer.BadParameter("cần đúng một trong hai: --accept hoặc --return", param_hint="--accept/--return")
    if accept and (reason or until):
        raise typer.BadParameter("--reason và --until chỉ dùng khi trả lại; khi xác nhận dùng --note",
                                 param_hint="--reason/--until")
    if return_ and note:
        raise typer.BadParameter("khi trả lại, nêu lý do bằng --reason", param_hint="--note")
    if return_ and not (reason and reason.strip()):
        raise typer.BadParameter("cần nêu lý do trả lại, yêu cầu bổ sung", param_hint="--reason")
    settings = get_settings()
    slug, key = split_target(target)
    moment = parse_now(now, settings.tz)
    new_due = parse_date(until, "--until")
    from dondoc.actions import perform

    result = perform("review", {"slug": slug, "key": key, "accept": accept, "reason": note if accept else reason,
                                "until": new_due.isoformat() if new_due else None, "by": by, "now": moment.isoformat()})
    if result["accepted"]:
        err.print(f"Đã xác nhận hoàn thành {safe(slug)}/{safe(key)}; đã thông báo đơn vị chủ trì.")
        if result["closed"]:
            err.print(f"Văn bản {safe(slug)} đã kết thúc.")
        if result["started"]:
            err.print(f"Bắt đầu: {safe(', '.join(result['started']))}.")
    else:
        err.print(f"Đã trả lại {safe(slug)}/{safe(key)}, hạn {result['due']}; đã thông báo đơn vị chủ trì.")


@app.command()
def reassign(
    target: Annotated[str, typer.Argument(metavar="SLUG/KEY[/KỲ]", help="Nhiệm vụ (hoặc một kỳ báo cáo) cần giao lại.")],
    reason: Annotated[str, typer.Option("--reason", help="Lý do của quyết định.")],
    leads: Annotated[str | None, typer.Option("--leads", help="Mã các đơn vị chủ trì mới, cách nhau bằng dấu phẩy, ví dụ sct,bqlkkt.")] = None,
    supporting: Annotated[str | None, typer.Option("--supporting", help="Mã các đơn vị phối hợp; bỏ trống thì giữ nguyên.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Hạn mới (YYYY-MM-DD); bỏ trống thì giữ hạn cũ.")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Không chấp nhận lời từ chối: giữ nguyên đơn vị chủ trì, lịch nhắc tiếp tục.")] = False,
    by: Annotated[str, typer.Option("--by", help="Người quyết định, ghi vào nhật ký.")] = "coordinator",
    now: NowOption = None,
) -> None:
    """Giao lại nhiệm vụ cho đơn vị chủ trì khác (--leads), hoặc giữ nguyên khi đơn vị từ chối (--keep).

    Đơn vị mới nhận thư giao nhiệm vụ và lịch nhắc được lập lại; đường dẫn phản hồi của đơn vị cũ hết hiệu lực.
    """
    from dondoc.render import safe
    from dondoc.timeargs import parse_date, parse_now, split_target
    from models.settings import get_settings

    if keep == bool(leads):
        raise typer.BadParameter("cần đúng một trong hai: --leads hoặc --keep", param_hint="--leads/--keep")
    if keep and (supporting or until):
        raise typer.BadParameter("--keep không dùng cùng --supporting hay --until", param_hint="--keep")

    def codes(text: str | None) -> list[str] | None:
        return None if text is None else [c.strip() for c in text.split(",") if c.strip()]

    settings = get_settings()
    slug, key = split_target(target)
    moment = parse_now(now, settings.tz)
    new_due = parse_date(until, "--until")
    from dondoc.actions import perform

    result = perform("reassign", {"slug": slug, "key": key, "reason": reason, "leads": codes(leads),
                                  "supporting": codes(supporting), "until": new_due.isoformat() if new_due else None,
                                  "keep": keep, "by": by, "now": moment.isoformat()})
    if result["kept"]:
        err.print(f"Đã giữ nguyên giao {safe(slug)}/{safe(key)} cho {safe(', '.join(result['leads']))}; đã thông báo đơn vị.")
    else:
        err.print(f"Đã giao lại {safe(slug)}/{safe(key)} cho {safe(', '.join(result['leads']))}, hạn {result['due']}; "
                  "đã gửi thư giao nhiệm vụ.")


@app.command()
def extensions(as_json: JsonOption = False) -> None:
    """Các đề nghị gia hạn đang chờ quyết định."""
    from models.store.db import transaction
    from models.lifecycle.extensions import pending_requests
    from models.settings import get_settings

    settings = get_settings()
    with transaction(settings) as session:
        pending = pending_requests(session)
    rows = [{"slug": r.slug, "key": r.key, "agency": r.agency, "requested_at": r.requested_at.astimezone(settings.tz).isoformat(),
             "current_due": r.current_due.isoformat(), "until": r.until.isoformat(), "reason": r.reason} for r in pending]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("Không có đề nghị gia hạn nào đang chờ.")
        return
    from rich.table import Table

    from dondoc import render
    from dondoc.render import plain

    table = Table(title="Đề nghị gia hạn đang chờ", title_justify="left")
    for header in ("Nhiệm vụ", "Đơn vị", "Ngày đề nghị", "Hạn hiện tại", "Đề nghị đến", "Lý do"):
        table.add_column(header, overflow="fold")
    for r in pending:
        table.add_row(plain(f"{r.slug}/{r.key}"), plain(r.agency), render.local_time(r.requested_at, settings.tz),
                      f"{r.current_due:%d/%m/%Y}", f"{r.until:%d/%m/%Y}", plain(r.reason, multiline=True))
    out.print(table)
    err.print("Duyệt: dondoc extend SLUG/KEY --reason \"…\"   Từ chối: dondoc extend SLUG/KEY --reject --reason \"…\"")


@app.command()
def report(
    slug: Annotated[str | None, typer.Argument(help="Slug của văn bản; bỏ trống khi lập báo cáo theo kỳ (--period hoặc --from/--until).")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Định dạng: md, html hoặc docx.")] = ReportFormat.docx,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Tệp kết quả. Mặc định: bao-cao-SLUG-NGÀY.ĐỊNH_DẠNG (theo kỳ: bao-cao-ky-KỲ-NGÀY.ĐỊNH_DẠNG) trong thư mục báo cáo (DONDOC_REPORTS_DIR, mặc định .dondoc/reports).")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Báo cáo theo kỳ, mọi văn bản: 2021-01 (tháng), 2021-q1 (quý), 2021-h1 (6 tháng) hoặc 2021 (năm).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Báo cáo theo kỳ: từ ngày (YYYY-MM-DD), thay cho --period.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Báo cáo theo kỳ: đến ngày (YYYY-MM-DD), thay cho --period.")] = None,
    issuer: Annotated[str | None, typer.Option("--issuer", help="Báo cáo theo kỳ: chỉ các văn bản do cơ quan này ban hành, và cơ quan này ký (mã). Mặc định: mọi văn bản, Văn phòng UBND tỉnh ký.")] = None,
    now: NowOption = None,
) -> None:
    """Lập báo cáo theo thể thức Nghị định 30/2020/NĐ-CP: số liệu, bảng nhiệm vụ, khó khăn, đề xuất.

    Với SLUG: báo cáo tình hình thực hiện một văn bản. Với --period (hoặc --from/--until): báo cáo tình hình thực
    hiện nhiệm vụ của mọi văn bản trong kỳ: số liệu chung, bảng đánh giá các cơ quan chủ trì, các nhiệm vụ quá hạn.
    Số liệu tính theo nhật ký đến thời điểm --now.
    """
    from dondoc.render import safe
    from dondoc.timeargs import parse_now
    from models.errors import InputError
    from models.settings import get_settings

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    by_period = period is not None or start is not None or until is not None
    if slug is not None and by_period:
        raise InputError("chọn một: SLUG (báo cáo một văn bản) hoặc --period/--from/--until (báo cáo theo kỳ)")
    if slug is None and not by_period:
        raise InputError("thiếu SLUG (báo cáo một văn bản) hoặc --period/--from/--until (báo cáo theo kỳ)")
    if slug is not None and issuer is not None:
        raise InputError("--issuer chỉ dùng với báo cáo theo kỳ (--period hoặc --from/--until)")
    if by_period:
        result = period_report_to_file(period, start, until, issuer, fmt.value, output, moment)
        err.print(f"Đã lập báo cáo: {safe(result['path'])}")
        return

    from dondoc.actions import perform
    from models.paths import report_name

    target = (output or settings.reports_root / report_name(slug, fmt.value, moment.date())).resolve()
    # With serve running, its flow writes the file and shows the report in the UI (the artifact report-SLUG);
    # without, this process writes the same file and never starts Prefect for it.
    result = perform("report", {"slug": slug, "format": fmt.value, "output": str(target), "now": moment.isoformat()},
                     fallback=lambda **_: report_to_file(slug, fmt.value, target, moment) | {"local": True})
    err.print(f"Đã lập báo cáo: {safe(result['path'])}")
    if result.get("local"):
        err.print(REPORT_IN_UI, markup=False)


def period_report_to_file(period: str | None, start: str | None, until: str | None, issuer: str | None, fmt: str,
                          output: Path | None, moment) -> dict:
    """The period report, written by this process, always: it reads the database and writes a file, and has no
    artifact, so it needs neither Prefect nor a running serve."""
    from dondoc.oversight_commands import resolve_span
    from models.calendar.timerules import TimeRules
    from models.paths import period_report_name
    from models.settings import get_settings
    from notifications.period_report import write_period_report

    settings = get_settings()
    today = TimeRules.from_settings(settings).today(moment)
    span, name = resolve_span(period, start, until, today)
    target = (output or settings.reports_root / period_report_name(name, span, fmt, today)).resolve()
    return write_period_report(span, name, fmt, target, moment, issuer)


REPORT_IN_UI = "Báo cáo còn được hiển thị trên giao diện Prefect khi lập từ biểu mẫu Run hoặc khi dondoc serve đang chạy."


def report_to_file(slug: str, fmt: str, output: Path | None, moment) -> dict:
    """The report written by this process, without Prefect: the same file as the `produce-report` flow writes.

    A file is all a report to a file needs, and starting Prefect for it cost a
    coordinator seconds. The artifact ``report-<slug>`` is published only by the
    flow: the Run form (flows/console.py), or a running serve (dondoc/actions.py, ``report``).
    """
    from models.paths import report_name
    from models.settings import get_settings
    from notifications.report import write_report

    target = output or get_settings().reports_root / report_name(slug, fmt, moment.date())
    result, _ = write_report(slug, fmt, target, moment)
    return result


@app.command()
def events(
    target: Annotated[str, typer.Argument(metavar="SLUG[/KEY]", help="Văn bản, hoặc một nhiệm vụ của văn bản.")],
    as_json: JsonOption = False,
) -> None:
    """Nhật ký: mọi thay đổi, theo thời gian, với người thực hiện và nội dung."""
    from models.store.db import transaction
    from models.lifecycle.queries import events_of, get_assignment, get_directive
    from models.settings import get_settings

    settings = get_settings()
    slug, _, key = target.strip().partition("/")
    with transaction(settings) as session:
        if key:
            directive, assignment = get_assignment(session, slug=slug, key=key)
        else:
            directive, assignment = get_directive(session, slug=slug), None
        trail = events_of(session, directive=directive, assignment=assignment)
    rows = [
        {"at": e.at.astimezone(settings.tz).isoformat(), "actor": e.actor, "kind": e.kind,
         "assignment": k, "payload": e.payload}
        for e, k in trail
    ]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    from dondoc import render
    from dondoc.render import plain

    table = Table(title=plain(f"Nhật ký — {directive.number}" + (f" / {key}" if key else "")), title_justify="left")
    for header in ("Thời điểm", "Người thực hiện", "Sự kiện", "Nhiệm vụ", "Nội dung"):
        table.add_column(header, overflow="fold")
    for e, k in trail:
        details = "; ".join(f"{name}: {value}" for name, value in e.payload.items() if value not in (None, [], ""))
        table.add_row(render.local_time(e.at, settings.tz), plain(e.actor), plain(e.kind), plain(k or ""),
                      plain(details, multiline=True))
    out.print(table)


@app.command()
def agencies(
    file: Annotated[Path, typer.Argument(help="Tệp YAML danh mục cơ quan, ví dụ directives/agencies/long-an.yaml.")],
    by: Annotated[str, typer.Option("--by", help="Người nạp danh mục, ghi vào nhật ký khi thư lỗi được gửi lại.")] = "coordinator",
    now: NowOption = None,
) -> None:
    """Nạp (hoặc nạp lại) danh mục cơ quan: sửa địa chỉ trong tệp YAML rồi chạy lệnh này.

    Cơ quan nào đổi địa chỉ thư thì các thư chưa gửi được đến địa chỉ cũ được đưa lại hàng chờ, gửi đến địa chỉ mới.
    """
    from dondoc.render import safe
    from dondoc.timeargs import parse_now
    from models.store.db import transaction
    from models.lifecycle.launch import upsert_registry
    from models.definition.loader import load_registry
    from models.settings import get_settings
    from models.textcheck import shown

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    registry = load_registry(file)
    with transaction(settings) as session:
        reloaded = upsert_registry(session, registry=registry, source=str(file), now=moment, actor=by)
    err.print(f"Đã nạp {reloaded.count} cơ quan của danh mục {safe(registry.registry)}.")
    for code, moved in reloaded.changed.items():
        err.print(shown(f"Đổi địa chỉ {code}: " + ", ".join(f"{old} → {new}" for old, new in moved.items())), markup=False)
    total = sum(item.count for item in reloaded.requeued)
    if total:
        per = ", ".join(f"{item.slug}: {item.count}" for item in reloaded.requeued)
        err.print(shown(f"Đã đưa {total} thư lỗi đến địa chỉ cũ trở lại hàng chờ gửi ({per}); lần quét tới sẽ gửi đến "
                        "địa chỉ mới."), markup=False)
