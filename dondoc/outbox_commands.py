"""Commands that drive the outbox: sweep, outbox, mailbox, serve, simulate, demo."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from dondoc.app import JsonOption, NowOption, app, err, out, prefect_quietly, prefect_ready, print_json

# As in directive_commands: each command imports what it uses when it runs, so that `outbox` (a listing)
# and `--help` load neither Prefect nor what only sending, serving or simulating needs.

ROOT = Path(__file__).resolve().parent.parent
STATE_LABELS = {"pending": "chờ gửi", "sending": "đang gửi", "sent": "đã gửi", "failed": "lỗi", "cancelled": "đã hủy",
                "skipped": "bỏ qua"}


@app.command()
def sweep(now: NowOption = None, as_json: JsonOption = False) -> None:
    """Quét hộp thư đi: gửi mọi thư đến hạn (giao việc, nhắc hạn, đôn đốc, báo cáo) và in số thư đã gửi, lỗi, chờ gửi lại."""
    from dondoc.timeargs import parse_now
    from models.settings import get_settings
    from models.textcheck import shown

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    from dondoc.actions import perform

    result = perform("sweep", {"now": moment.isoformat()})
    if as_json:
        print_json(result)
        return
    out.print(f"Đã gửi: {result['sent']} thông báo ({result['delivered']} thư) · Lỗi: {result['failed']} · "
              f"Chờ gửi lại: {result['retrying']}")
    if result["failed"]:
        err.print("Xem thư lỗi: dondoc outbox --state failed")
    if result["smtp_unavailable"]:
        err.print(shown(f"Máy chủ thư không sẵn sàng ({result['smtp_unavailable']}); các thư còn lại sẽ được gửi "
                        "ở lượt quét sau."), markup=False)


class ListingGroup(TyperGroup):
    """A group whose bare form is a command of its own: `outbox [SLUG] [--state S]` lists, `outbox retry …` re-queues.

    Click would read a subcommand's name as the group's SLUG argument, so a
    first word naming a subcommand goes to it; options may follow SLUG as before.
    """

    allow_interspersed_args = True

    def parse_args(self, ctx, args):
        if args and args[0] in self.commands:
            super().parse_args(ctx, [])
            ctx._protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        return super().parse_args(ctx, args)


outbox_app = typer.Typer(cls=ListingGroup, invoke_without_command=True, rich_markup_mode="rich",
                         context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(outbox_app, name="outbox")
SlugArgument = Annotated[str | None, typer.Argument(help="Slug của văn bản. Bỏ trống: mọi văn bản.")]


@outbox_app.callback()
def outbox(
    ctx: typer.Context,
    slug: SlugArgument = None,
    state: Annotated[str | None, typer.Option("--state", help="Chỉ hiện thư ở trạng thái: pending, sending, sent, failed, cancelled, skipped.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Hộp thư đi: mỗi thư một dòng với giờ gửi, bậc, nhiệm vụ, người nhận, trạng thái và Message-ID.

    Thư lỗi ghi rõ địa chỉ nào không nhận được, kể cả khi các thư khác của cùng thông báo đã đi.
    Đưa thư lỗi vào hàng chờ gửi lại: dondoc outbox retry [SLUG].
    """
    if ctx.invoked_subcommand:
        return
    from rich.table import Table
    from sqlmodel import select

    from dondoc.render import plain
    from models.store.db import transaction
    from models.lifecycle.deliveries import delivered, failures
    from models.lifecycle.queries import get_directive
    from models.settings import get_settings
    from models.store.tables import Assignment, Directive, Notification

    settings = get_settings()
    if state is not None and state not in STATE_LABELS:
        raise typer.BadParameter(f"{state!r}; dùng một trong: {', '.join(STATE_LABELS)}", param_hint="--state")
    with transaction(settings) as session:
        query = (
            select(Notification, Assignment.key, Directive.slug)
            .join(Directive, Directive.id == Notification.directive_id, isouter=True)  # a digest: every directive
            .join(Assignment, Assignment.id == Notification.assignment_id, isouter=True)
            .order_by(Notification.due_at, Notification.id)
        )
        if slug:
            query = query.where(Notification.directive_id == get_directive(session, slug=slug).id)
        if state:
            query = query.where(Notification.state == state)
        rows = session.exec(query).all()
    items = [
        {
            "due_at": n.due_at.astimezone(settings.tz).isoformat(),
            "rung": n.rung,
            "directive": directive_slug,
            "assignment": key,
            "recipients": n.recipients or {"to": [f"({a})" for a in n.to_audience], "cc": [f"({a})" for a in n.cc_audience]},
            "state": n.state,
            "attempts": n.attempts,
            "message_id": n.message_id,
            "sent_at": n.sent_at.astimezone(settings.tz).isoformat() if n.sent_at else None,
            "error": n.last_error,
            # Per address: who did not get it (refused for good), and how many did.
            "failed_deliveries": failures(n.recipients) if n.state == "failed" else [],
            "delivered": delivered(n.recipients),
        }
        for n, key, directive_slug in rows
    ]
    if as_json:
        print_json(items)
        return
    table = Table(title=plain("Hộp thư đi" + (f" — {slug}" if slug else "")), title_justify="left",
                  caption="Người nhận trong ngoặc là nhóm, được xác định từ danh mục lúc gửi.", caption_justify="left")
    table.add_column("Giờ gửi", no_wrap=True)
    table.add_column("Bậc", no_wrap=True)
    for header in ("Nhiệm vụ", "Người nhận", "Trạng thái", "Message-ID"):
        table.add_column(header, overflow="fold")
    for item in items:
        recipients = ", ".join(item["recipients"]["to"]) + (f"; cc {', '.join(item['recipients']['cc'])}" if item["recipients"]["cc"] else "")
        table.add_row(datetime.fromisoformat(item["due_at"]).strftime("%d/%m/%Y %H:%M"), plain(item["rung"]),
                      plain(item["assignment"] or "—"), plain(recipients), plain(_state_text(item)),
                      plain(item["message_id"]))
    out.print(table)


def _state_text(item: dict) -> str:
    label = STATE_LABELS[item["state"]]
    if item["state"] == "skipped":  # superseded while catching up: why it was not sent late
        return label + (f" ({item['error']})" if item["error"] else "")
    if item["state"] != "failed":
        return label
    if item["failed_deliveries"]:
        missed = "; ".join(f"{d['address']}: {d['error']}" for d in item["failed_deliveries"])
        others = f"; đã gửi đến {item['delivered']} địa chỉ khác" if item["delivered"] else ""
        return f"{label}: không gửi được đến {missed}{others}"
    return label + (f" ({item['error']})" if item["error"] else "")


@outbox_app.command("retry")
def retry(
    slug: SlugArgument = None,
    state: Annotated[str, typer.Option("--state", help="Trạng thái của thư cần gửi lại; chỉ failed.")] = "failed",
    by: Annotated[str, typer.Option("--by", help="Người yêu cầu gửi lại, ghi vào nhật ký.")] = "coordinator",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Đưa thư lỗi trở lại hàng chờ gửi (mọi văn bản, hoặc một văn bản); lần quét tới gửi lại.

    Mỗi thư chỉ gửi lại đến những địa chỉ chưa nhận được, với Message-ID cũ. Việc đưa lại được ghi vào nhật ký
    và báo trong bản tổng hợp kế tiếp. Thư của văn bản đã kết thúc hoặc nhiệm vụ đã xong không được gửi lại.
    """
    from dondoc.render import plain
    from dondoc.timeargs import parse_now
    from models.store.db import transaction
    from models.lifecycle.deliveries import requeue
    from models.errors import InputError, NotFound
    from models.lifecycle.queries import get_directive
    from models.settings import get_settings

    settings = get_settings()
    if state != "failed":
        raise InputError(f"--state {state!r}: chỉ đưa lại được thư ở trạng thái failed")
    moment = parse_now(now, settings.tz)
    with transaction(settings) as session:
        directive_id = None
        if slug:
            try:
                directive_id = get_directive(session, slug=slug).id
            except NotFound as exc:
                raise InputError(str(exc)) from None
        done = requeue(session, now=moment, actor=by, directive_id=directive_id, reason={"reason": "retry"})
    total = sum(item.count for item in done)
    if as_json:
        print_json({"requeued": total, "directives": [{"slug": item.slug, "count": item.count, "keys": item.keys}
                                                      for item in done]})
        return
    if not total:
        out.print(plain("Không có thư lỗi nào cần gửi lại" + (f" của văn bản {slug}." if slug else ".")))
        return
    per = ", ".join(f"{item.slug}: {item.count}" for item in done)
    out.print(plain(f"Đã đưa {total} thư lỗi trở lại hàng chờ gửi ({per}); lần quét tới sẽ gửi lại."))


@app.command()
def mailbox(
    host: Annotated[str, typer.Option("--host", help="Địa chỉ lắng nghe.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Cổng SMTP.")] = 1025,
    maildir: Annotated[Path, typer.Option("--maildir", help="Thư mục Maildir lưu thư.")] = Path(".dondoc/maildir"),
) -> None:
    """Máy chủ thư cục bộ (SMTP) để thử nghiệm: lưu mọi thư vào Maildir và in một dòng cho mỗi thư. Dừng bằng Ctrl-C."""
    from dondoc.mailbox import start_mailbox
    from dondoc.render import safe
    from models.textcheck import shown
    from dondoc.serve import install_signals, restore_signals

    def echo(message) -> None:
        out.print(shown(f"{message['Date']} · {message['X-Dondoc-Rung'] or '-'} · {message['X-Dondoc-Assignment'] or '-'} · "
                        f"{message['To']} · {message['Subject']}"), markup=False)

    try:
        controller = start_mailbox(maildir, host=host, port=port, echo=echo)
    except (OSError, RuntimeError) as exc:
        from models.errors import DondocError

        raise DondocError(f"không mở được cổng {host}:{port}: {exc}") from None
    err.print(f"Hộp thư đang nghe tại {safe(host)}:{port}, lưu vào {safe(maildir)}. Ctrl-C để dừng.")
    stop = threading.Event()
    previous = install_signals(stop)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        controller.stop()
        restore_signals(previous)
        err.print("Hộp thư đã dừng.")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Địa chỉ của trang phản hồi.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Cổng của trang phản hồi.")] = 8080,
    prefect_port: Annotated[int, typer.Option("--prefect-port", help="Cổng của máy chủ Prefect (giao diện và API) trên 127.0.0.1, khi PREFECT_API_URL không được đặt.")] = 4200,
    no_clock: Annotated[bool, typer.Option("--no-clock", help="Không chạy đồng hồ quét (khi lịch của Prefect đã đảm nhiệm).")] = False,
    deployments: Annotated[bool, typer.Option("--deployments", help="Phục vụ các deployment trên giao diện Prefect (khởi tạo, ghi nhận, gia hạn, báo cáo, quét theo lịch) thay cho đồng hồ.")] = False,
) -> None:
    """Tiến trình duy nhất của một cài đặt: trang phản hồi, đồng hồ quét, máy chủ Prefect và điểm điều phối cục bộ.

    Đồng hồ quét ngay khi khởi động, rồi mỗi DONDOC_SWEEP_MINUTES phút và lúc 08:00 ngày làm việc.
    Máy chủ Prefect (giao diện tại http://127.0.0.1:4200) được khởi động và dừng cùng serve, dữ liệu trong
    DONDOC_STATE_DIR/prefect; nếu PREFECT_API_URL được đặt thì dùng máy chủ đó.
    Các lệnh launch, record, extend, report, sweep tìm thấy serve đang chạy (qua socket DONDOC_STATE_DIR/serve.sock)
    và nhờ serve thực hiện: nhanh, không phải khởi động Prefect. Dừng bằng Ctrl-C hoặc SIGTERM.
    """
    import os

    from dondoc.render import safe
    from models.settings import get_settings

    settings = get_settings()
    prefect_quietly()
    from dondoc.endpoint import socket_path
    from dondoc.serve import serve_forever

    def started() -> None:
        err.print(f"Trang phản hồi: http://{safe(host)}:{port}/ (liên kết trong thư dùng DONDOC_PUBLIC_URL={safe(settings.public_url)})")
        if settings.public_url.startswith(("http://127.0.0.1", "http://localhost")) and not settings.public_url.rstrip("/").endswith(f":{port}"):
            err.print(f"[dark_orange]Lưu ý:[/] DONDOC_PUBLIC_URL không trỏ tới cổng {port}; liên kết trong thư sẽ không mở được trang này.")
        api = os.environ.get("PREFECT_API_URL", "")
        err.print(f"Prefect UI: {safe(api.removesuffix('/').removesuffix('/api'))}")
        err.print(f"Điểm điều phối cho các lệnh dondoc: {safe(socket_path(settings.state_dir))}")
        if deployments:
            err.print("Deployment đã sẵn sàng trên giao diện Prefect (Deployments → dondoc → Run).")
        elif not no_clock:
            err.print(f"Đồng hồ: quét mỗi {settings.sweep_minutes} phút và lúc 08:00 các ngày làm việc.")
        err.print("Ctrl-C để dừng.")

    serve_forever(host=host, port=port, clock=not no_clock, deployments=deployments, prefect_port=prefect_port,
                  on_started=started, say=lambda line: err.print(line, markup=False))
    err.print("Đã dừng.")


@app.command()
def simulate(
    file: Annotated[Path, typer.Argument(help="Tệp YAML của văn bản chỉ đạo.")],
    start: Annotated[str, typer.Option("--from", help="Thời điểm khởi tạo (ISO 8601), ví dụ 2020-11-30T09:00+07:00.")],
    until: Annotated[str, typer.Option("--until", help="Thời điểm kết thúc mô phỏng (ISO 8601 hoặc ngày).")],
    responses: Annotated[Path | None, typer.Option("--responses", help="Tệp YAML các phản hồi của cơ quan.")] = None,
    maildir: Annotated[Path | None, typer.Option("--maildir", help="Thư mục Maildir (trống) nhận thư. Mặc định: thư mục tạm.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Mô phỏng cả đợt đôn đốc trên cơ sở dữ liệu mới: khởi tạo, quét lúc 08:00 mỗi ngày làm việc, áp dụng phản hồi; in dòng thời gian."""
    from dondoc.timeargs import parse_now
    from models.settings import get_settings

    settings = get_settings()
    first = parse_now(start, settings.tz, "--from")
    last = parse_now(until, settings.tz, "--until")
    if len(until.strip()) == 10:
        last = last.replace(hour=23, minute=59)
    from dondoc.actions import borrow_prefect

    borrow_prefect()
    prefect_ready()
    from dondoc.simulate import simulate as run

    result = run(file, start=first, until=last, responses=responses, maildir=maildir,
                 show_progress=not as_json and sys.stderr.isatty())
    if as_json:
        print_json(result.timeline)
        return
    _print_simulation(result, settings.tz)


# The demo's campaigns: the seed letter as it always ran, then a directive that is a process (issue 12): steps
# that wait for others, review with a return, a lead that never acknowledges, a refusal and a reassignment.
# Each: its file in directives/ (with .responses.yaml), the simulated period, and where its output goes.
DEMO_CAMPAIGNS = (
    ("2550-STTTT-BCTT", datetime(2020, 11, 30, 9, 0), datetime(2021, 2, 26, 23, 59), "."),
    ("45-KH-UBND", datetime(2021, 1, 15, 9, 0), datetime(2021, 5, 14, 23, 59), "45-KH-UBND"),
)


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", help="Thư mục chứa kết quả.")] = Path(".dondoc/demo"),
) -> None:
    """Chạy thử hai văn bản với các phản hồi mẫu: 2550/STTTT-BCTT của Long An (30/11/2020–26/02/2021), rồi
    Kế hoạch 45/KH-UBND (15/01–14/5/2021) với các bước nối tiếp, xem xét kết quả, đơn vị không xác nhận
    tiếp nhận, từ chối và giao lại."""
    import shutil

    from models.settings import get_settings
    from models.textcheck import shown

    settings = get_settings()
    for _, _, _, folder in DEMO_CAMPAIGNS:
        for name in ("maildir", "dondoc.db", "dondoc.db-wal", "dondoc.db-shm", "timeline.svg"):
            target = output / folder / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    output.mkdir(parents=True, exist_ok=True)
    from dondoc.actions import borrow_prefect

    borrow_prefect()
    prefect_ready()
    from dondoc.simulate import simulate as run

    for stem, start, until, folder in DEMO_CAMPAIGNS:
        where = (output / folder) if folder != "." else output
        result = run(ROOT / "directives" / f"{stem}.yaml",
                     start=start.replace(tzinfo=settings.tz), until=until.replace(tzinfo=settings.tz),
                     responses=ROOT / "directives" / f"{stem}.responses.yaml",
                     maildir=where / "maildir", database=where / "dondoc.db", show_progress=sys.stderr.isatty())
        _print_simulation(result, settings.tz)
        svg = where / "timeline.svg"
        svg.write_text(_timeline_svg(result, settings), encoding="utf-8")
        out.print()
        out.print(shown(f"Thư đã gửi ({len(result.timeline)}): {result.maildir} (Maildir; mở bằng mutt -f hoặc bất kỳ trình đọc thư nào)"),
                  markup=False)
        out.print(shown(f"Dòng thời gian: {svg}"), markup=False)
        out.print(shown(f"Cơ sở dữ liệu: {result.database}  →  DONDOC_DATABASE_URL=sqlite:///{result.database} dondoc status {result.slug}"),
                  markup=False)
        out.print()
    out.print(shown(f"Prefect UI: {_prefect_ui()}"), markup=False)


def _prefect_ui() -> str:
    import os

    from flows.tempserver import temporary_api_url

    api = os.environ.get("PREFECT_API_URL")
    if api and api != temporary_api_url():  # the temporary server stops with this command
        return api.removesuffix("/api").removesuffix("/api/") + "/runs"
    return (f"chạy `make ui` (hoặc `dondoc serve`) rồi mở http://127.0.0.1:4200/runs; các lần chạy được lưu trong "
            f"{os.environ.get('PREFECT_HOME')}")


def _print_simulation(result, tz) -> None:
    from collections import Counter

    from rich.table import Table

    from dondoc.render import plain
    from models.lifecycle.status import LABELS
    from models.textcheck import shown
    from notifications.wording import RUNG_LABELS

    action_labels = {**{k: v.lower() for k, v in LABELS.items()}, "extend": "đề nghị gia hạn, được chấp thuận",
                     "reported": "báo cáo hoàn thành, chờ xác nhận", "review-accept": "xác nhận hoàn thành",
                     "review-return": "trả lại, yêu cầu bổ sung", "decline": "từ chối: không thuộc chức năng, nhiệm vụ",
                     "reassign": "giao lại", "keep": "giữ nguyên giao nhiệm vụ"}
    table = Table(title=plain(f"Dòng thời gian — {result.number}"), title_justify="left")
    for header in ("Ngày", "Bậc", "Nhiệm vụ", "Người nhận"):
        table.add_column(header, overflow="fold")
    for item in result.timeline:
        if item["rung"] == "digest":
            continue
        when = datetime.fromisoformat(item["date"]).astimezone(tz)
        to = ", ".join(_short(item["to"])) + (f"; cc {', '.join(_short(item['cc']))}" if item["cc"] else "")
        table.add_row(f"{when:%d/%m/%Y %H:%M}", plain(RUNG_LABELS.get(item["rung"], item["rung"])),
                      plain(item["assignment"] or "—"), plain(to))
    out.print(table)
    summary = result.summary()
    counts = Counter(summary["by_rung"])
    out.print(shown("Tổng số thư: " + ", ".join(f"{_lower_first(RUNG_LABELS.get(r, r))} {n}" for r, n in counts.items())
                    + f" (cộng {len(result.timeline)})"), markup=False)
    for response in result.responses:
        when = datetime.fromisoformat(response["on"]).astimezone(tz)
        note = f" — bỏ qua: {response['skipped']}" if response.get("skipped") else ""
        action = action_labels.get(response["action"], response["action"])
        out.print(shown(f"  {when:%d/%m/%Y %H:%M} · {response['assignment']} · {action}{note}"), markup=False)
    out.print(shown("Kết quả: " + ", ".join(f"{k}: {LABELS.get(v, v).lower()}" for k, v in summary["final"].items())),
              markup=False)


def _lower_first(label: str) -> str:
    """Mid-sentence form of a label: only its first letter, so "Văn phòng UBND tỉnh" keeps its capitals."""
    return label[:1].lower() + label[1:]


def _short(addresses: list[str]) -> list[str]:
    """The part before @: enough to tell agencies apart in a narrow table."""
    return [a.partition("@")[0] for a in addresses]


def _timeline_svg(result, settings) -> str:
    from models.store.db import open_database, session_scope
    from models.lifecycle.queries import get_directive
    from models.calendar.timerules import TimeRules
    from notifications.timeline import days_off_between, lanes_from_db, timeline_svg

    rules = TimeRules.from_settings(settings)
    with session_scope(open_database(f"sqlite:///{result.database}")) as session:
        directive = get_directive(session, slug=result.slug)
        lanes, closed_on = lanes_from_db(session, directive, until=result.until, rules=rules)
    start, end = result.start.date(), result.until.date()
    return timeline_svg(title=f"Văn bản số {result.number}: dòng thời gian đôn đốc", start=start, end=end,
                        lanes=lanes, days_off=days_off_between(start, end, rules), closed_on=closed_on)
