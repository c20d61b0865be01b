"""serve's side of the local coordinator endpoint (the protocol is in dondoc/endpoint.py)."""

from __future__ import annotations

import inspect
import json
import os
import socket
import socketserver
import struct
import threading
from pathlib import Path

from dondoc import actions, endpoint
from models.errors import DondocError, InputError, InUse
from models.textcheck import shown


# How long a stopping serve waits for the actions still running (their Prefect server stops after).
DRAIN_SECONDS = 30

# Keywords serve itself gives an action; a request naming them is refused.
RESERVED = frozenset({"progress", "answer"})


class _Handler(socketserver.StreamRequestHandler):
    server: "CoordinatorEndpoint"

    def handle(self) -> None:
        if not self.server.same_user(self.connection):
            return  # another user: not a word, not even an error
        line = self.rfile.readline(1 << 20)
        try:
            request = json.loads(line)
            action = request["action"]
            params = request["params"]
            if request.get("v") != endpoint.VERSION or action not in actions.ACTIONS or not isinstance(params, dict):
                raise ValueError(action)
        except (ValueError, KeyError, TypeError):
            self._send({"error": {"type": "BadRequest", "message": "yêu cầu không hợp lệ", "exit_code": 2}})
            return
        if request.get("database") != self.server.database and action not in actions.ANY_DATABASE:
            self._send({"error": {"type": "OtherDatabase", "message": "cơ sở dữ liệu khác", "exit_code": 1}})
            return
        self.server.run(action, params, self._send)

    def _send(self, message: dict) -> None:
        try:
            with self.server.writing:
                endpoint.send(self.connection, message)
        except OSError:
            pass  # the CLI went away (Ctrl-C); the action goes on, and its trail is in the events


class CoordinatorEndpoint(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Listens on DONDOC_STATE_DIR/serve.sock; each connection runs one action on its own thread."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, path: Path, database: str, log=None):
        self.path, self.database, self.log = path, database, log
        self.writing = threading.Lock()
        self.ready = threading.Event()  # set once Prefect and the database are there; requests wait for it
        self.closing = False
        self.in_flight = threading.Condition()  # counts the actions running, for a stop that lets them finish
        self.running = 0
        self.thread: threading.Thread | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        _claim(path)
        old = os.umask(0o177)  # the socket is born 600: no window in which another user may connect
        try:
            socketserver.UnixStreamServer.__init__(self, str(path), _Handler, bind_and_activate=False)
            with endpoint.addressable(path) as address:
                self.socket.bind(address)
            self.socket.listen(16)
        except BaseException:
            self.server_close()
            raise
        finally:
            os.umask(old)

    def same_user(self, conn: socket.socket) -> bool:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid == os.getuid()

    def run(self, action: str, params: dict, send) -> None:
        done = threading.Event()
        answered = threading.Event()

        def keep_talking() -> None:  # the CLI reads silence as a hung serve
            while not done.wait(endpoint.WORKING_EVERY):
                send({"working": True})

        def answer(result: dict) -> None:
            # The CLI has its answer and goes; this thread finishes the action (what only the UI shows).
            done.set()
            answered.set()
            send({"result": result})

        ticker = threading.Thread(target=keep_talking, daemon=True)
        ticker.start()
        with self.in_flight:
            self.running += 1
        try:
            self.ready.wait()
            if self.closing:
                raise DondocError("dondoc serve đang dừng; lệnh chưa được thực hiện, hãy chạy lại")
            run = actions.ACTIONS[action]
            extra = {"answer": answer} if "answer" in inspect.signature(run).parameters else {}
            try:
                if RESERVED & params.keys():
                    raise TypeError(f"không được gửi {', '.join(sorted(RESERVED & params.keys()))}")
                inspect.signature(run).bind(**params, progress=None, **extra)
            except TypeError as exc:
                raise InputError(f"yêu cầu không hợp lệ: {exc}") from None
            from flows.runtime import in_process_subflows

            # No heartbeat thread: its join costs each flow run about 0.85 s, most of a command's wait. The
            # price: a serve killed mid-action leaves that run "Running" in the UI (the events say what was done).
            with in_process_subflows():
                result = run(**params, progress=lambda d, t: send({"progress": [d, t]}), **extra)
        except Exception as exc:  # noqa: BLE001 - whatever happens is the CLI's one line, never serve's end
            reply = {"error": actions.describe(exc)}
            if (answered.is_set() or not isinstance(exc, DondocError)) and self.log:
                self.log(shown(f"Lỗi khi thực hiện {action}: {type(exc).__name__}: {exc}"))
        else:
            reply = {"result": result}
        finally:
            done.set()
            with self.in_flight:
                self.running -= 1
                self.in_flight.notify_all()
        if not answered.is_set():
            send(reply)

    def drain(self, timeout: float) -> bool:
        """Wait for the actions still running (a launch's tail after its answer): True if none is left."""
        with self.in_flight:
            return self.in_flight.wait_for(lambda: self.running == 0, timeout)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="coordinator", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.closing = True
        self.ready.set()
        if self.thread:
            self.shutdown()
            self.thread.join(timeout=10)
        if not self.drain(DRAIN_SECONDS) and self.log:
            self.log("Một lệnh vẫn đang chạy khi dừng; nhật ký sự kiện (dondoc events) cho biết việc đã làm.")
        self.server_close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _claim(path: Path) -> None:
    """Take the socket's place, unless a live serve holds it; a file left by a dead one is removed."""
    try:
        endpoint.connect(path, timeout=2).close()
    except endpoint.Unreachable as exc:
        if exc.stale:
            path.unlink(missing_ok=True)
        return
    raise InUse(f"dondoc serve đang chạy cho thư mục trạng thái {path.parent} (socket {path}); "
                         "dừng nó trước, hoặc dùng DONDOC_STATE_DIR khác")
