"""The Typer application, its error handling and the options commands share."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from models.errors import DefinitionError, DondocError
from models.textcheck import shown

# No emoji codes either: an agency's ":warning:" is shown as typed. What is
# printed from stored or typed text goes through render.plain / render.safe,
# or markup=False and textcheck.shown.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class GuardedGroup(TyperGroup):
    """Turns dondoc's errors into one line and an exit code; never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
        except DefinitionError as exc:
            err.print(f"[bold red]Lỗi:[/] định nghĩa không hợp lệ ({len(exc.problems)} lỗi); không ghi gì vào cơ sở dữ liệu.", markup=True)
            for problem in exc.problems:
                err.print(f"  {shown(str(problem))}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except DondocError as exc:
            # Messages quote what was typed or stored: one line, and nothing in it reaches the terminal as a control.
            err.print("[bold red]Lỗi:[/] ", end="")
            err.print(shown(str(exc)), markup=False)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except KeyboardInterrupt:
            err.print("Đã dừng.")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
            if os.environ.get("DONDOC_DEBUG"):
                raise
            err.print("[bold red]Lỗi không mong đợi:[/] ", end="")
            err.print(shown(f"{type(exc).__name__}: {exc}") + " (đặt DONDOC_DEBUG=1 để xem chi tiết)", markup=False)
            raise typer.Exit(1) from None
        if "dondoc.actions" in sys.modules:  # a command that ran an action itself, the slow way: say how not to
            sys.modules["dondoc.actions"].say_how_to_be_fast()
        return result


app = typer.Typer(
    cls=GuardedGroup,
    name="dondoc",
    help="dondoc — đôn đốc thực hiện nhiệm vụ theo văn bản chỉ đạo: giao nhiệm vụ, theo dõi thời hạn, nhắc hạn và báo cáo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Thời điểm coi là hiện tại (ISO 8601, ví dụ 2020-11-30T09:00+07:00; chỉ ngày thì hiểu là 08:00). Mặc định: giờ thực."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="In kết quả dạng JSON (cho máy đọc).")]


class Reported(str, Enum):
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    done = "done"


class ReportFormat(str, Enum):
    md = "md"
    html = "html"
    docx = "docx"


def prefect_quietly() -> None:
    """Prefect's logs belong in its UI, not on a coordinator's terminal; its state belongs with dondoc's.

    Even failures: the shell reports them as one line, and the full trace is
    kept with the flow run. Unless PREFECT_HOME says otherwise, Prefect keeps
    its database (runs, logs, artifacts) in DONDOC_STATE_DIR/prefect, where
    `dondoc serve` and `make ui` read it. Call this before Prefect is imported:
    it reads its settings then.
    """
    from dondoc.prefect_server import prefect_home
    from models.settings import get_settings

    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not os.environ.get("PREFECT_HOME"):
        os.environ["PREFECT_HOME"] = str(prefect_home(get_settings().state_dir))


def prefect_ready() -> None:
    """Before a flow runs in the command's own process: Prefect quiet, and an API to talk to.

    Without PREFECT_API_URL (no serve answered) that is a temporary server,
    started here with a generous timeout and one retry (flows/tempserver.py)
    rather than by Prefect in the middle of the flow call, where a slow start
    ends in a traceback.
    """
    from models.settings import get_settings

    prefect_quietly()
    timeout = get_settings().prefect_startup_seconds
    from flows.tempserver import ensure_api

    def retrying(reason: str) -> None:
        err.print(shown(f"Máy chủ Prefect tạm thời chưa sẵn sàng: {reason}; đang thử lại."), markup=False)

    ensure_api(timeout, on_retry=retrying)


def print_json(data: Any) -> None:
    """JSON for machines that a person may also read at a terminal.

    ``json.dumps`` escapes only C0 controls; DEL, C1 controls and invisible
    characters are escaped too (they can only occur inside strings, so the
    JSON means the same), and the rest of the text stays readable.
    """
    text = json.dumps(data, ensure_ascii=False, indent=2)
    hidden = {ord(c): _json_escape(c) for c in set(text) if shown(c, multiline=True) != c}
    sys.stdout.write(text.translate(hidden) + "\n")


def _json_escape(c: str) -> str:
    code = ord(c)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
