"""A local SMTP server (aiosmtpd) that keeps every message in a Maildir.

``dondoc mailbox`` runs it in the foreground; ``simulate`` and the tests run it
in-process. It can also misbehave on purpose (``Faults``), so tests exercise
real SMTP replies rather than mocks of them.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class Faults:
    """Misbehaviour for tests: replies to give instead of accepting, and delays."""

    data_replies: list[str] = field(default_factory=list)  # consumed one per DATA, e.g. "421 try later"
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → reply, e.g. "550 no such user"
    delay: float = 0.0  # seconds to wait before answering DATA (a tarpit, when longer than the client's timeout)
    slow: float = 0.0  # seconds to wait before answering MAIL, RCPT and DATA: a server that drips each reply


class MaildirHandler:
    def __init__(self, maildir: Path, echo: Callable[[EmailMessage], None] | None = None, faults: Faults | None = None):
        maildir.parent.mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(str(maildir), create=True)
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) skips them when the folder already exists
            (maildir / sub).mkdir(exist_ok=True)
        self.echo = echo
        self.faults = faults or Faults()
        self.received = 0
        self.arrivals: list[str] = []  # Message-IDs in the order they were accepted
        self.envelopes: list[list[str]] = []  # the accepted RCPT TO addresses of each arrival, in the same order
        self.attempts = 0  # messages begun (MAIL FROM), accepted or not

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.attempts += 1
        if self.faults.slow:
            await asyncio.sleep(self.faults.slow)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.faults.slow:
            await asyncio.sleep(self.faults.slow)
        reply = self.faults.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.faults.delay or self.faults.slow:
            await asyncio.sleep(self.faults.delay or self.faults.slow)
        if self.faults.data_replies:
            return self.faults.data_replies.pop(0)
        content = envelope.original_content or envelope.content
        self.box.add(content)
        self.received += 1
        header = re.search(rb"^Message-ID:\s*(\S+)", content, re.MULTILINE | re.IGNORECASE)
        self.arrivals.append(header.group(1).decode("ascii", "replace") if header else "")
        self.envelopes.append(list(envelope.rcpt_tos))
        if self.echo:
            self.echo(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    """Block until something accepts connections on host:port (a server started in another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def start_mailbox(maildir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                  echo: Callable[[EmailMessage], None] | None = None, faults: Faults | None = None) -> Controller:
    """Start the server in a background thread; call ``.stop()`` on the result."""
    handler = MaildirHandler(maildir, echo=echo, faults=faults)
    controller = Controller(handler, hostname=host, port=port or free_port(host), data_size_limit=50 * 1024 * 1024)
    controller.start()
    return controller


def read_messages(maildir: Path) -> list[EmailMessage]:
    """Every message in the Maildir, oldest first by Date header then arrival."""
    box = mailbox.Maildir(str(maildir), create=False)
    messages = []
    for key in box.keys():
        with box.get_file(key) as handle:
            messages.append(message_from_bytes(handle.read(), policy=policy.default))
    return sorted(messages, key=lambda m: (m["Date"].datetime if m["Date"] else 0, m["Message-ID"] or ""))
