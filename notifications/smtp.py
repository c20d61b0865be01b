"""Delivery over a few reused aiosmtplib connections, with a rate limit and error classes.

aiosmtplib's errors map onto two outcomes:

    transient → retry later          permanent → the row fails
    ───────────────────────          ─────────────────────────
    connection refused, reset        5xx reply (550 user unknown, 554 …)
    timeouts                         every recipient refused with 5xx
    4xx reply (421, 451, 452)
    server disconnected
    authentication refused (a configuration problem, not the message's)

A server that cannot be reached, or that times out STALLS times in a row, is
taken to be unavailable for the rest of the batch: the messages not yet tried
wait for a later sweep (with their backoff) instead of each costing its own
timeouts. DONDOC_SMTP_TIMEOUT bounds each message's whole exchange, not only
each reply, so a server that drips its replies just in time stalls too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
import aiosmtplib

from models.settings import Settings

STALLS = 3  # timeouts in a row after which the server is given up on for this batch
TIMEOUTS = (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)


@dataclass
class Outcome:
    state: str  # sent | retry | failed
    error: str | None = None
    refused: dict[str, str] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)


def _reply_class(code: int | None) -> str:
    return "failed" if code is not None and 500 <= code < 600 else "retry"


def classify(exc: BaseException) -> Outcome:
    """Map an aiosmtplib error onto retry or give up."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [e.code for e in exc.recipients]
        state = "failed" if codes and all(500 <= c < 600 for c in codes) else "retry"
        refused = {e.recipient: f"{e.code} {e.message}" for e in exc.recipients}
        return Outcome(state, "máy chủ thư từ chối người nhận: " + "; ".join(f"{k}: {v}" for k, v in refused.items()), refused)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Outcome("retry", f"máy chủ thư từ chối xác thực ({exc.code}); kiểm tra DONDOC_SMTP_USERNAME/PASSWORD")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Outcome(_reply_class(exc.code), f"máy chủ thư trả lời {exc.code} {exc.message}".strip())
    if isinstance(exc, TIMEOUTS):
        return Outcome("retry", "máy chủ thư không trả lời kịp (timeout)")
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError)):
        return Outcome("retry", f"không kết nối được máy chủ thư: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException):
        return Outcome("retry", f"lỗi SMTP: {exc}")
    raise exc


class Mailer:
    """Sends messages over at most ``smtp_connections`` connections, reused across messages."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(settings.smtp_connections):
            self._idle.put_nowait(None)
        self._interval = 60.0 / settings.smtp_rate if settings.smtp_rate else 0.0
        self._next_slot = 0.0
        self._slot_lock = asyncio.Lock()
        self.unreachable: str | None = None  # set once connecting failed or STALLS timeouts in a row: the rest waits
        self._stalls = 0  # timeouts in a row, across connections
        self._given_up = asyncio.Event()  # set with the STALLS-th timeout: the messages in flight stop waiting too

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout,
            use_tls=s.smtp_security == "tls", start_tls=True if s.smtp_security == "starttls" else False,
            username=s.smtp_username, password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )

    async def _throttle(self) -> None:
        if not self._interval:
            return
        async with self._slot_lock:
            wait = self._next_slot - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_slot = max(time.monotonic(), self._next_slot) + self._interval

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> Outcome:
        if self.unreachable:
            return Outcome("retry", self.unreachable)
        client = await self._idle.get()
        try:
            if self.unreachable:  # given up on while this message waited for a connection
                return Outcome("retry", self.unreachable)
            if client is None or not client.is_connected:
                client = self._client()
                try:
                    await client.connect()
                except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                    outcome = classify(exc)
                    if outcome.state == "retry":
                        self.unreachable = outcome.error
                    client = None
                    return outcome
            await self._throttle()
            if self.unreachable:
                return Outcome("retry", self.unreachable)
            try:
                refused, _ = await self._exchange(client.sendmail(sender, recipients, message))
            except _GivenUp:
                client.close()
                client = None
                return Outcome("retry", self.unreachable)
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                outcome = classify(exc)
                if isinstance(exc, TIMEOUTS):
                    client.close()  # no QUIT: a server that does not answer would cost another timeout
                    client = None
                    self._stalled()
                    return outcome
                self._stalls = 0
                if not isinstance(exc, (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)):
                    await _close(client)
                    client = None
                else:
                    await _reset(client)
                return outcome
            self._stalls = 0
            refused_text = {addr: f"{r.code} {r.message}" for addr, r in refused.items()}
            accepted = [r for r in recipients if r not in refused]
            return Outcome("sent", None, refused_text, accepted)
        finally:
            self._idle.put_nowait(client)

    async def _exchange(self, sending):
        """One message's whole exchange, within the timeout; cut short once the server is given up on."""
        exchange = asyncio.ensure_future(sending)
        given_up = asyncio.ensure_future(self._given_up.wait())
        try:
            done, _ = await asyncio.wait({exchange, given_up}, timeout=self.settings.smtp_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            given_up.cancel()
            exchange.cancel()  # nothing when it is done; otherwise its connection is closed by the caller
        if exchange in done:
            return exchange.result()
        if given_up in done:
            raise _GivenUp
        raise asyncio.TimeoutError

    def _stalled(self) -> None:
        self._stalls += 1
        if self._stalls >= STALLS and not self.unreachable:
            self.unreachable = (f"máy chủ thư không trả lời kịp {STALLS} lần liên tiếp (timeout); "
                                "các thư còn lại chờ lượt gửi sau")
            self._given_up.set()

    async def close(self, abort: bool = False) -> None:
        """Say QUIT on every open connection at once; just drop them when aborting or when the server stalls."""
        clients = []
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client is not None:
                clients.append(client)
        if abort or self.unreachable:
            for client in clients:
                client.close()
            return
        await asyncio.gather(*(_close(client) for client in clients))


class _GivenUp(Exception):
    """The server was given up on while this message was in flight."""


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        await _close(client)


async def _close(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        client.close()
