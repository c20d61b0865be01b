"""The Prefect server that ``dondoc serve`` starts and stops: its UI on 127.0.0.1:4200, its data in the state dir.

A child process (``python -m prefect server start``, which runs its web server and services in one process),
not a thread: Prefect's server is an application of its own with its own event loop and database. It dies
with serve even when serve is killed with -9 (PR_SET_PDEATHSIG), so a crashed serve never leaves the port
taken for the next one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from models.errors import DondocError

PR_SET_PDEATHSIG = 1


class PrefectServerError(DondocError):
    exit_code = 2  # the port is taken, or the server would not start: nothing of serve runs


def prefect_home(state_dir: str | os.PathLike) -> Path:
    """Where dondoc's Prefect keeps its database and settings unless PREFECT_HOME says otherwise."""
    return Path(state_dir).resolve() / "prefect"


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: a -9'd serve then leaves the server running, as `prefect server start` would


class PrefectServer:
    def __init__(self, *, host: str, port: int, home: Path, log: Path):
        self.host, self.port, self.home, self.log = host, port, home, log
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float, abort=None) -> None:
        if not port_is_free(self.host, self.port):
            raise PrefectServerError(
                f"cổng {self.host}:{self.port} của máy chủ Prefect đang bận (dondoc serve hoặc `make ui` khác đang "
                f"chạy?); dừng nó, hoặc đặt PREFECT_API_URL=http://{self.host}:{self.port}/api để dùng máy chủ đó, "
                "hoặc chọn --prefect-port khác")
        self.home.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_UI_API_URL": self.api_url}
        env.pop("PREFECT_API_URL", None)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent, start_new_session=True,  # Ctrl-C reaches serve, which stops it in turn
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if abort is not None and abort.is_set():
                self.stop()
                return
            if self.process.poll() is not None:
                raise PrefectServerError(
                    f"máy chủ Prefect dừng ngay khi khởi động (mã {self.process.returncode}); xem {self.log}")
            if self.healthy():
                return
            time.sleep(0.25)
        self.stop()
        raise PrefectServerError(f"máy chủ Prefect chưa sẵn sàng sau {timeout:.0f} giây; xem {self.log}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
