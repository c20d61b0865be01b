"""The local coordinator endpoint: how a CLI command asks a running ``dondoc serve`` to act for it.

A Unix socket, ``serve.sock`` in DONDOC_STATE_DIR, rather than an HTTP port with a token file:
- only the same user can connect: the socket is created mode 600 in a folder of that user's, and serve
  checks the peer's uid (SO_PEERCRED) as well, so there is no token to leak, rotate or paste;
- no port to choose, collide on or expose by mistake (a port on 127.0.0.1 is open to every local user);
- a dead serve (killed with -9) leaves a file that refuses connections at once (ECONNREFUSED): the CLI
  never waits on it.

The protocol is one JSON line each way, with the stdlib only: this module is imported by every command
that changes state, and must stay cheap (no Prefect, no HTTP client, no database).

    → {"v": 1, "action": "record", "params": {...}, "database": "<fingerprint>"}
    ← {"working": true}                      every few seconds while the action runs
    ← {"progress": [done, total]}             for actions that report progress
    ← {"result": {...}}  or  {"error": {"type": "InputError", "message": "...", "exit_code": 2}}
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERSION = 1
SOCKET_NAME = "serve.sock"
CONNECT_TIMEOUT = 2.0
# serve sends a line at least this often while an action runs; silence for longer means it hangs (or was stopped).
WORKING_EVERY = 5.0
SILENCE_LIMIT = 60.0
# sun_path holds 108 bytes; longer paths are reached through the folder's descriptor (Linux /proc/self/fd).
_SUN_PATH_MAX = 100


class Unreachable(Exception):
    """No serve answers here; ``stale`` when a socket file was left by one that died."""

    def __init__(self, why: str, stale: bool = False):
        super().__init__(why)
        self.stale = stale


class Broken(Exception):
    """serve accepted the action, then went silent or away before answering: the outcome is unknown."""


def socket_path(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir).resolve() / SOCKET_NAME


def database_fingerprint(url: str) -> str:
    """Which database a process means, without sending its URL (it may hold a password).

    A relative SQLite path is made absolute: a CLI in another folder means another file.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and not path.startswith("file:"):
            url = "sqlite:///" + str(Path(path).resolve())
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def connect(path: Path, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A connected socket to a listening serve, or :class:`Unreachable`."""
    if not path.exists():
        raise Unreachable("no socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _addressable(path) as address:
            sock.connect(address)
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        sock.close()
        raise Unreachable(str(exc), stale=True) from None
    except OSError as exc:  # a timeout included: a serve that cannot even accept is as good as gone
        sock.close()
        raise Unreachable(str(exc), stale=True) from None
    return sock


class _addressable:
    """The address to bind or connect ``path`` through, even when it is longer than sun_path allows."""

    def __init__(self, path: Path):
        self.path, self.fd = path, None

    def __enter__(self) -> str:
        text = str(self.path)
        if len(text.encode()) < _SUN_PATH_MAX:
            return text
        self.fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self.fd}/{self.path.name}"

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)


def addressable(path: Path) -> _addressable:
    return _addressable(path)


def ask(path: Path, action: str, params: dict[str, Any], *, database: str,
        on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``action`` in the serve listening at ``path``; its result, or the error it raised, as a dict.

    Raises :class:`Unreachable` before anything was sent, :class:`Broken` after.
    """
    sock = connect(path)
    try:
        request = {"v": VERSION, "action": action, "params": params, "database": database}
        try:
            sock.sendall(json.dumps(request, ensure_ascii=False).encode("utf-8") + b"\n")
        except OSError as exc:
            raise Unreachable(str(exc), stale=True) from None
        sock.settimeout(SILENCE_LIMIT)
        reader = sock.makefile("rb")
        while True:
            try:
                line = reader.readline(1 << 24)
            except OSError as exc:
                raise Broken(f"{type(exc).__name__}: {exc}") from None
            if not line:
                raise Broken("serve closed the connection")
            try:
                message = json.loads(line)
            except ValueError:
                raise Broken("serve answered something that is not JSON") from None
            if "progress" in message and on_progress:
                on_progress(*message["progress"])
            elif "result" in message or "error" in message:
                return message
    finally:
        sock.close()


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
