"""One outbox row, delivered as one or more messages ("envelopes"), and what became of them.

A reply link is a credential: whoever holds it can report for its agency. So a
row addressed to lead agencies is split at send time:

- each lead agency gets a message of its own, To that agency alone, with no Cc,
  carrying only its own link; its Message-ID is derived from the row's
  idempotency key plus the agency code, so a re-send repeats it;
- everyone else the row names (supporting agencies, heads, the director, the
  provincial office) gets one copy, with no link, under the row's own Message-ID.

A row without lead agencies in To is one envelope, as it always was. The
planning (dates, keys) does not change: envelopes exist only between claiming
a row and recording its outcome, and the outcome of each is kept in the row's
``recipients`` JSON, so an attempt after a transient failure sends only the
envelopes still owed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from models.ladder import message_id_for
from notifications.recipients import Person
from notifications.smtp import Outcome

SETTLED = ("sent", "failed")  # an envelope in one of these states is not sent again


@dataclass
class Envelope:
    to: list[Person]
    cc: list[Person]
    message_id: str
    lead: str | None = None  # the lead agency this message is for, alone; only such a message may carry a link
    context: dict[str, Any] = field(default_factory=dict)  # what this message's text says differently

    @property
    def addresses(self) -> list[str]:
        return [p.email for p in self.to + self.cc]

    def record(self, outcome: Outcome) -> dict[str, Any]:
        """What went where, as kept in the row's ``recipients``."""
        out: dict[str, Any] = {"message_id": self.message_id, "to": [p.email for p in self.to],
                               "cc": [p.email for p in self.cc], "lead": self.lead,
                               "link": bool(self.context.get("link")), "state": outcome.state}
        if outcome.error:
            out["error"] = outcome.error[:500]
        if outcome.refused:
            out["refused"] = outcome.refused
        return out


def split(to: list[Person], cc: list[Person], *, leads: Iterable[str], key: str, message_id: str) -> list[Envelope]:
    """The row's envelopes: one per lead agency in ``to``, then one copy for everyone else (if anyone)."""
    leads = set(leads)
    own = [p for p in to if p.agency in leads and not p.head]
    domain = message_id.rpartition("@")[2].rstrip(">")  # the domain the row was planned with, so the IDs stay stable
    envelopes = [Envelope(to=[p], cc=[], message_id=message_id_for(key, domain, p.agency), lead=p.agency) for p in own]
    rest = [p for p in to if p not in own]
    copy_to, copy_cc = (rest, cc) if rest else (cc, [])  # a copy to supporting agencies only: they are its To
    if copy_to:
        envelopes.append(Envelope(to=copy_to, cc=copy_cc, message_id=message_id))
    return envelopes


def settled(recipients: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Envelopes of earlier attempts that must not be sent again, by Message-ID."""
    return {e["message_id"]: e for e in (recipients or {}).get("envelopes", []) if e.get("state") in SETTLED}


@dataclass
class Settlement:
    state: str  # sent | failed | retry: what becomes of the row
    envelopes: list[dict[str, Any]]  # every envelope's record, earlier attempts' included
    error: str | None = None  # why the row fails or waits
    refused: dict[str, str] = field(default_factory=dict)  # recipients refused in envelopes that went out anyway

    @property
    def note(self) -> str | None:
        return "một số người nhận bị từ chối: " + "; ".join(self.refused) if self.refused else None


def settle(envelopes: list[Envelope], previous: dict[str, dict[str, Any]],
           results: list[tuple[Envelope, Outcome]]) -> Settlement:
    """Combine this attempt's outcomes with the earlier ones.

    The row is sent once every envelope was accepted; it waits for another
    attempt while any envelope failed transiently; otherwise a permanent
    refusal of any envelope fails the row, the error naming its addresses.
    """
    now = {envelope.message_id: envelope.record(outcome) for envelope, outcome in results}
    records = [now.get(e.message_id) or previous[e.message_id] for e in envelopes
               if e.message_id in now or e.message_id in previous]
    listed = {r["message_id"] for r in records}
    records += [r for mid, r in previous.items() if mid not in listed]  # sent before the registry changed
    refused: dict[str, str] = {}
    for record in records:
        if record["state"] == "sent":
            refused.update(record.get("refused", {}))
    waiting = [r for r in now.values() if r["state"] == "retry"]
    failed = [r for r in records if r["state"] == "failed"]
    if waiting:
        return Settlement("retry", records, _join(r.get("error", "") for r in waiting), refused)
    if failed:
        return Settlement("failed", records, _join(_naming(r) for r in failed), refused)
    return Settlement("sent", records, None, refused)


def _naming(record: dict[str, Any]) -> str:
    """The error of a failed envelope, naming its addresses unless it already does."""
    error = record.get("error", "")
    addresses = record["to"] + record["cc"]
    return error if any(a in error for a in addresses) else f"{', '.join(addresses)}: {error}"


def _join(errors: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(e for e in errors if e))
