"""Turning a prepared outbox row into an e-mail message."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from notifications.context import Prepared
from notifications.ics import due_date_calendar
from notifications.recipients import Person
from notifications.templating import render
from notifications.wording import one_line


# CPython's header folder drops the space between two encoded words when it folds
# a long Vietnamese subject at 78 columns ("quá hạn" arrives as "quáhạn"). Headers
# are therefore written unfolded up to RFC 5322's hard limit of 998 characters.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def to_bytes(message: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends, headers folded only beyond 998 characters."""
    return message.as_bytes(policy=WIRE_POLICY)


def address(person: Person) -> Address:
    local, _, domain = person.email.rpartition("@")
    return Address(display_name=one_line(person.name), username=local, domain=domain)


def compose(prepared: Prepared, *, mail_from: str, sender_name: str, now: datetime, domain: str) -> EmailMessage:
    subject, text, html = render(prepared.template, prepared.context)
    msg = EmailMessage()
    local, _, host = mail_from.rpartition("@")
    msg["From"] = Address(display_name=one_line(sender_name), username=local, domain=host)
    msg["To"] = [address(p) for p in prepared.to]
    if prepared.cc:
        msg["Cc"] = [address(p) for p in prepared.cc]
    issuer_email = prepared.context["directive"]["issuer_email"]
    if issuer_email:
        msg["Reply-To"] = issuer_email
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = prepared.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Dondoc-Directive"] = prepared.slug
    if prepared.assignment_key:
        msg["X-Dondoc-Assignment"] = prepared.assignment_key
    msg["X-Dondoc-Rung"] = prepared.rung
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if prepared.calendar:
        msg.add_attachment(
            due_date_calendar(prepared.calendar, now=now, domain=domain).decode("utf-8"),
            subtype="calendar", filename="han-xu-ly.ics", params={"method": "PUBLISH"},
        )
    return msg
