"""Turning a prepared outbox row into the bytes of an e-mail message.

Built with the email package's compat32 classes: they are several times
faster than ``EmailMessage`` (whose header registry dominated the send path,
~8 ms a message here) and ``email.header.Header`` splits a long Vietnamese
subject into encoded words that keep their spaces. The modern folder loses the
space between two encoded words ("quá hạn" arrived as "quáhạn").
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

from notifications.context import Prepared
from notifications.envelopes import Envelope
from notifications.ics import due_date_calendar
from notifications.recipients import Person
from notifications.templating import render
from notifications.wording import one_line

WIRE_POLICY = policy.compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in a raw mailbox, unlike base64


def _addresses(people: list[Person]) -> str:
    return ", ".join(formataddr((one_line(p.name), p.email), charset="utf-8") for p in people)


class _OneLine:
    """A header value the compat32 policy writes as is, unfolded.

    An identifier (a Message-ID, a long slug or key in an X-Dondoc header) has no
    space to fold at, so the policy would move it whole onto a continuation line,
    and parsers then read it back with a leading space. Such values are ASCII and
    far below the 998-character line limit (keys are at most 255 characters).
    """

    def __init__(self, value: str):
        self.value = value

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:  # what the policy calls on a Header
        return self.value


def _text(body: str, subtype: str) -> MIMEText:
    part = MIMEText(body, subtype, _UTF8_QP)
    del part["MIME-Version"]  # compat32 gives every part one; it belongs once, at the top of the message
    return part


def _multipart(subtype: str) -> MIMEMultipart:
    part = MIMEMultipart(subtype)
    del part["MIME-Version"]
    return part


def compose(prepared: Prepared, envelope: Envelope, *, mail_from: str, sender_name: str, now: datetime,
            domain: str) -> bytes:
    """One envelope of the row as sent: multipart/alternative text and HTML, plus the .ics for notices and reminders."""
    subject, text, html = render(prepared.template, {**prepared.context, **envelope.context})
    body = _multipart("alternative")
    body.attach(_text(text, "plain"))
    body.attach(_text(html, "html"))
    msg = body
    if prepared.calendar:
        msg = _multipart("mixed")
        msg.attach(body)
        ics = _text(due_date_calendar(prepared.calendar, now=now, domain=domain).decode("utf-8"), "calendar")
        ics.set_param("method", "PUBLISH")
        ics.add_header("Content-Disposition", "attachment", filename="han-xu-ly.ics")
        msg.attach(ics)
    msg["From"] = formataddr((one_line(sender_name), mail_from), charset="utf-8")
    msg["To"] = _addresses(envelope.to)
    if envelope.cc:
        msg["Cc"] = _addresses(envelope.cc)
    issuer_email = prepared.context["directive"]["issuer_email"]
    if issuer_email:
        msg["Reply-To"] = issuer_email
    msg["Subject"] = Header(one_line(subject), "utf-8")
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _OneLine(one_line(envelope.message_id))
    msg["Auto-Submitted"] = "auto-generated"
    msg["MIME-Version"] = "1.0"  # once: the parts above were built without theirs
    if prepared.slug:  # a coordinator's digest is about all its directives
        msg["X-Dondoc-Directive"] = _OneLine(one_line(prepared.slug))
    if prepared.assignment_key:
        msg["X-Dondoc-Assignment"] = _OneLine(one_line(prepared.assignment_key))
    msg["X-Dondoc-Rung"] = _OneLine(one_line(prepared.rung))
    return msg.as_bytes(policy=WIRE_POLICY)
