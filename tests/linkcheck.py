"""Reading reply links out of delivered messages, and checking each reached only its own agency."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

from models.definition.loader import load_registry
from notifications.links import ReplyLinks

LINK = re.compile(r"/phan-hoi/([^/\s\"'<>]+)/([^?\s\"'<>]+)\?t=([A-Za-z0-9_.\-]+)")


def texts(message: EmailMessage) -> list[str]:
    """Every text part of the message (plain, HTML, the calendar), decoded."""
    return [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]


def links_in(message: EmailMessage) -> list[tuple[str, str, str]]:
    """(slug, assignment key, token) of every reply link in the message, in any of its parts."""
    found = []
    for text in texts(message):
        matches = LINK.findall(text)
        # Nothing that looks like a reply page may escape the pattern (a link split or encoded differently).
        assert len(matches) == text.count("/phan-hoi/"), text
        found += matches
    return found


def recipients(message: EmailMessage) -> list[str]:
    return [a.addr_spec.lower() for name in ("To", "Cc") if message[name] for a in message[name].addresses]


def agency_addresses(registry: Path) -> dict[str, str]:
    """Each agency's own address → its code. A head's address is not its agency's: heads get no link."""
    return {str(a.email).lower(): a.code for a in load_registry(registry).agencies}


def link_agency(links: ReplyLinks, message: EmailMessage, slug: str, key: str, token: str) -> str:
    """The agency a link acts for, from its signed token, checked as the reply page checks it when the mail arrives."""
    return links.verify(token, slug=slug, key=key, now=message["Date"].datetime).agency


def foreign_links(messages: list[EmailMessage], links: ReplyLinks, registry: Path) -> list[str]:
    """Every (message, recipient, link) where a recipient got a link that is not its own agency's; [] when none."""
    own = agency_addresses(registry)
    problems = []
    for message in messages:
        found = links_in(message)
        if not found:
            continue
        people = recipients(message)
        if len(people) != 1 or message["Cc"] is not None:
            problems.append(f"{message['Message-ID']}: a link to {len(people)} recipients: {people}")
        for slug, key, token in found:
            agency = link_agency(links, message, slug, key, token)
            if key != str(message["X-Dondoc-Assignment"]):
                problems.append(f"{message['Message-ID']}: a link for {key} in a message about another assignment")
            for address in people:
                if own.get(address) != agency:
                    problems.append(f"{message['Message-ID']}: {address} ({own.get(address)}) got {agency}'s link")
    return problems
