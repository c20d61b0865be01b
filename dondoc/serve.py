"""``dondoc serve``: the reply pages, and the clock of a one-machine install (APScheduler 3)
or, with ``--deployments``, Prefect's own scheduler and the UI's Run forms."""

from __future__ import annotations

import errno
import signal
import socket
import threading
import time

import uvicorn
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from dondoc.clocklease import hold as hold_clock
from models.errors import DondocError, InputError, InUse
from models.settings import Settings, get_settings
from models.textcheck import shown

# The job store lives in the project database, so the schedule survives a
# restart. APScheduler 3 must never share a job store between two processes:
# run one `dondoc serve` per database.
JOB_TABLE = "apscheduler_jobs"

from dondoc.actions import SWEEPING  # one sweep at a time in this process: the clock's and those asked for


def sweep_job() -> None:
    """One sweep on the real clock; referenced by the job store as ``dondoc.serve:sweep_job``.

    A tick that finds a sweep still running is skipped with a line, not queued: the running sweep sends
    whatever the skipped one would have.
    """
    from dondoc.app import err

    if not SWEEPING.acquire(blocking=False):
        err.print("Bỏ qua lượt quét: lượt quét trước chưa xong.", markup=False)
        return
    try:
        _sweep(err)
    finally:
        SWEEPING.release()


def _sweep(err) -> None:
    from flows.sweep import escalation_sweep

    try:
        result = escalation_sweep()
    except Exception as exc:  # noqa: BLE001 - the clock must keep ticking; the run is failed in Prefect
        err.print(shown(f"Quét lỗi: {type(exc).__name__}: {exc}"), markup=False)
        return
    err.print(f"Quét: gửi {result['sent']} thông báo ({result['delivered']} thư), lỗi {result['failed']}, "
              f"chờ gửi lại {result['retrying']}.", markup=False)
    if result["smtp_unavailable"]:
        err.print(shown(f"Máy chủ thư không sẵn sàng ({result['smtp_unavailable']}); các thư còn lại chờ lượt quét sau."),
                  markup=False)


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=settings.database_url, tablename=JOB_TABLE),
                   "once": MemoryJobStore()},
        timezone=settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    # Interval ticks missed while stopped are covered by the start-up sweep, which sends the latest rung
    # still true of each assignment, in order; so a late tick may simply run (no grace limit) but never
    # piles up (coalesce).
    scheduler.add_job(sweep_job, IntervalTrigger(minutes=settings.sweep_minutes, timezone=settings.tz),
                      id="sweep-interval", name="quét định kỳ", replace_existing=True, misfire_grace_time=None)
    scheduler.add_job(sweep_job, CronTrigger(day_of_week="mon-fri", hour=8, minute=0, timezone=settings.tz),
                      id="sweep-morning", name="quét 08:00", replace_existing=True, misfire_grace_time=3600)
    # The catch-up sweep runs on a scheduler thread like every other sweep: Prefect takes over SIGTERM in
    # the main thread while a flow runs there, and serve must keep it to stop cleanly.
    # Built before the slow Prefect start and run whenever the scheduler starts: never "missed".
    scheduler.add_job(sweep_job, id="sweep-startup", name="quét khi khởi động", jobstore="once",
                      misfire_grace_time=None)
    return scheduler


class WebServer:
    """The reply pages on a background thread, so the main thread keeps the signals."""

    def __init__(self, app, host: str, port: int):
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.host, self.port = host, port
        self.sock: socket.socket | None = None

    def reserve(self) -> None:
        """Take the port now, before the slow parts of a start: a busy port is refused at once."""
        self.sock = bind(self.host, self.port)  # here, not in uvicorn: a refusal is our one line, not its log record
        self.sock.listen(128)

    def _run(self, sock: socket.socket) -> None:
        try:
            self.server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - uvicorn exits with SystemExit when it cannot start
            self.error = exc

    def start(self) -> None:
        if self.sock is None:
            self.reserve()
        sock = self.sock
        self.thread = threading.Thread(target=self._run, args=(sock,), name="web", daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                sock.close()
                raise DondocError(f"không mở được trang phản hồi tại {self.host}:{self.port}: {self.error!r}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread:  # None when the port was refused
            self.thread.join(timeout=30)
        elif self.sock is not None:
            self.sock.close()


def bind(host: str, port: int) -> socket.socket:
    """The reply pages' listening socket, or one clear line (exit code 2) saying why not."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT, never one that listens
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InUse(f"cổng {where} đang bận, có thể một `dondoc serve` khác đang chạy ở đó: dừng nó hoặc chọn "
                        "cổng khác bằng --port.") from None
        reason = {errno.EACCES: "không có quyền mở cổng này (cổng dưới 1024 cần quyền quản trị)",
                  errno.EADDRNOTAVAIL: "địa chỉ này không thuộc máy này"}.get(
            exc.errno, "không tìm thấy địa chỉ này" if isinstance(exc, socket.gaierror) else str(exc))
        raise InputError(f"không mở được trang phản hồi tại {where}: {reason}.") from None
    except OverflowError:
        sock.close()
        raise InputError(f"không mở được trang phản hồi tại {where}: cổng phải từ 1 đến 65535.") from None
    return sock


def serve_forever(*, host: str, port: int, clock: bool = True, deployments: bool = False,
                  prefect_port: int = 4200, on_started=None, say=None) -> None:
    """Serve until Ctrl-C or SIGTERM; shutting down waits for a sweep in progress to finish.

    Start order: the clock lease and the endpoint's socket first (a second serve on this database or this state
    dir is refused before it starts anything), then the Prefect server (commands sent meanwhile wait for it),
    the pages, the clock. Everything stops in the reverse order.
    """
    import os
    from contextlib import ExitStack
    from pathlib import Path

    from dondoc import endpoint
    from dondoc.coordinator import CoordinatorEndpoint
    from dondoc.web import create_app

    settings = get_settings()
    stop = threading.Event()
    with ExitStack() as stack:
        if not deployments:  # Prefect's serve() holds the signals itself
            # From the start: whoever sees any part of us up may stop us cleanly, even while Prefect starts.
            stack.callback(restore_signals, install_signals(stop))
        scheduler = build_scheduler(settings) if clock and not deployments else None
        if scheduler:
            # The clock lease first: a serve that may not run the clock starts nothing at all (dondoc/clocklease.py).
            lease = hold_clock(settings, scheduler)
            stack.callback(lease.release)  # after the scheduler's shutdown: the job store is no longer used then
        coordinator = CoordinatorEndpoint(endpoint.socket_path(settings.state_dir),
                                          endpoint.database_fingerprint(settings.database_url), log=say)
        stack.callback(coordinator.stop)
        coordinator.start()
        web = WebServer(create_app(settings=settings), host, port)
        web.reserve()
        stack.callback(web.stop)
        if not os.environ.get("PREFECT_API_URL"):
            from dondoc.prefect_server import PrefectServer, prefect_home

            home = Path(os.environ.get("PREFECT_HOME") or prefect_home(settings.state_dir))
            embedded = PrefectServer(host="127.0.0.1", port=prefect_port, home=home,
                                     log=Path(settings.state_dir) / "prefect-server.log")
            if say:
                say(f"Khởi động máy chủ Prefect tại {embedded.ui_url} (dữ liệu: {home})…")
            stack.callback(embedded.stop)
            embedded.start(timeout=float(getattr(settings, "prefect_startup_seconds", 120)), abort=stop)
            if stop.is_set():
                return
            # Before anything in this process imports Prefect, which reads its settings once.
            os.environ["PREFECT_API_URL"] = embedded.api_url
            os.environ["PREFECT_HOME"] = str(home)
        if deployments:
            web.start()
            coordinator.ready.set()
            from flows.deployments import serve_deployments

            if on_started:
                on_started()
            try:
                serve_deployments(settings)
            except KeyboardInterrupt:
                pass
            return
        web.start()
        if scheduler:
            scheduler.start()
            stack.callback(lambda: scheduler.running and scheduler.shutdown(wait=True))
        coordinator.ready.set()
        if on_started:
            on_started()
        while not stop.wait(0.5):
            pass


def install_signals(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}


def restore_signals(previous) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
