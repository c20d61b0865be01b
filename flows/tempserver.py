"""The temporary Prefect server of a command run without a Prefect API: dondoc starts it itself.

Without PREFECT_API_URL, Prefect starts a temporary server at its first client
call (``SubprocessASGIServer``), waits for it PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS
(20, counting only its own sleeps), and otherwise fails in the middle of the
flow call with a traceback. That start-up is mostly imports (~7 s of CPU
here), plus the migrations that create its database on a fresh PREFECT_HOME
(5–10 s more); a busy 2-core machine takes longer than 20 s. So the shells call :func:`ensure_api` before their first flow:

- it waits up to DONDOC_PREFECT_STARTUP_SECONDS (120) of wall-clock time;
- an attempt that fails (too slow, or its process exited: a port taken in the
  meantime, a database another start holds) is stopped and tried once more,
  on a fresh port;
- if that fails too, one line says what to do;
- once the server answers, PREFECT_API_URL names it for this process, so
  every Prefect client of the command uses it, and it is stopped at exit.

Starting it here, not inside Prefect's client, also keeps
``prefect.server.api.server`` (~2.5 s of CPU to import) out of the command's own
process, and, when nothing can have named an API, lets the server start while
the command imports Prefect. The server's output goes to a log under
PREFECT_HOME, not to the coordinator's terminal; on Linux it dies with the
command, so a command killed with -9 leaves no server behind.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from models.errors import DondocError

LOG_NAME = "temporary-server.log"
ATTEMPTS = 2

_running: TemporaryServer | None = None


class TemporaryServer:
    """One Prefect API server process on 127.0.0.1, run the way Prefect runs its own temporary server."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def spawn(self, log: IO[bytes]) -> None:
        spec = importlib.util.find_spec("prefect")  # where it is installed, without importing it
        assert spec is not None and spec.origin is not None, "prefect is not installed"
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        # dondoc uses no blocks: registering Prefect's block types on a fresh database costs ~2.5 s of CPU.
        # A server started later on the same database (`make ui`, `dondoc serve`) registers them itself.
        env.setdefault("PREFECT_API_BLOCKS_REGISTER_ON_START", "false")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
             "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C at the terminal interrupts the command, which can still record that in
            # Prefect before stopping the server.
            start_new_session=True, preexec_fn=_die_with_parent(),
        )
        atexit.register(self.stop)  # whatever happens next, the server ends with the command

    def wait(self, timeout: float) -> str | None:
        """Wait until the API answers (None) or ``timeout`` seconds have passed; else say why not, in Vietnamese."""
        import httpx

        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client() as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    return f"tiến trình máy chủ đã dừng khi khởi động, mã thoát {code}"
                left = deadline - time.monotonic()
                if left <= 0:
                    return f"máy chủ chưa trả lời sau {_seconds(timeout)} giây"
                try:
                    if client.get(f"{self.api_url}/health", timeout=min(5.0, max(left, 0.1))).status_code == 200:
                        return None
                except httpx.HTTPError:
                    pass
                time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ensure_api(timeout: float, *, on_retry: Callable[[str], None] | None = None, port: int | None = None) -> str | None:
    """Make sure this process's flows have a Prefect API; returns the URL of a temporary server started for them.

    Nothing is started when Prefect already has an API URL (PREFECT_API_URL, a profile, a test harness), and a
    second call returns the server of the first. ``port`` is the first attempt's port (the retry takes a free one).
    Raises DondocError, naming what to do, when neither attempt answers within ``timeout`` seconds.
    """
    global _running
    if _running is not None:
        return _running.api_url
    early = _start_early(port)
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        if early is not None:  # not expected (see _may_name_an_api), but Prefect's own view decides
            early[0].stop()
            early[1].close()
        if settings.api.url:
            return None
        raise DondocError("chưa có máy chủ Prefect: hãy đặt PREFECT_API_URL trỏ tới một máy chủ Prefect đang chạy "
                          "(PREFECT_SERVER_EPHEMERAL_ENABLED=false không cho chạy máy chủ tạm thời)")
    if early is None:
        Path(settings.home).mkdir(parents=True, exist_ok=True)
    reasons: list[str] = []
    with early[1] if early is not None else (Path(settings.home) / LOG_NAME).open("wb") as log:
        for attempt in range(ATTEMPTS):
            if attempt == 0 and early is not None:
                server = early[0]
            else:
                server = TemporaryServer(port if attempt == 0 else None)
                server.spawn(log)
            reason = server.wait(timeout)
            if reason is None:
                break
            server.stop()  # before the retry: two servers would compete for the machine and the database
            reasons.append(reason)
            if on_retry is not None and attempt + 1 < ATTEMPTS:
                on_retry(reason)
        else:
            raise DondocError(
                f"máy chủ Prefect tạm thời không khởi động được sau {ATTEMPTS} lần thử: {reasons[-1]} (nhật ký: "
                f"{log.name}). Hãy chạy `dondoc serve` ở một cửa sổ khác rồi thử lại, hoặc đặt PREFECT_API_URL trỏ "
                "tới một máy chủ Prefect đang chạy, hoặc tăng DONDOC_PREFECT_STARTUP_SECONDS."
            )
    _running = server
    os.environ["PREFECT_API_URL"] = server.api_url
    refresh_global_settings_context()  # Prefect read its settings at import; the URL must reach every client
    return server.api_url


def _start_early(port: int | None) -> tuple[TemporaryServer, IO[bytes]] | None:
    """Spawn the server before Prefect is imported, when nothing can have named another API; else None.

    Prefect's import (~2.5 s) then overlaps the server's start-up. Whether an
    API is named is Prefect's to say, from its settings: this only looks for
    the places it reads them from, and leaves any doubt to the caller.
    """
    home = os.environ.get("PREFECT_HOME")
    if "prefect" in sys.modules or not home or _may_name_an_api(Path(home)):
        return None
    Path(home).mkdir(parents=True, exist_ok=True)
    log = (Path(home) / LOG_NAME).open("wb")
    server = TemporaryServer(port)
    server.spawn(log)
    return server, log


def _may_name_an_api(home: Path) -> bool:
    """Whether a variable or a file that Prefect reads its settings from mentions an API URL or the ephemeral mode."""
    words = ("api_url", "ephemeral", "api_key")
    if any(word in name.lower() for name in os.environ if name.upper().startswith("PREFECT_") for word in words):
        return True
    files = [Path(".env"), Path("prefect.toml"), Path("pyproject.toml"),
             Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace").lower()
        except OSError:
            continue
        if any(word in text for word in words) or (path.name == "pyproject.toml" and "tool.prefect" in text):
            return True
    return False


def temporary_api_url() -> str | None:
    """The URL of the temporary server this process started, if any: it is gone once the command ends."""
    return _running.api_url if _running is not None else None


def _seconds(value: float) -> str:
    """A number of seconds as Vietnamese writes it: 120, 0,5."""
    return f"{value:g}".replace(".", ",")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel send the server SIGTERM when the thread that started it ends (a killed command).

    Only from the main thread, whose end is the process's end; libc is loaded before the fork.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_signal
