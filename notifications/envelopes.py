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

Outcomes are per recipient. Each envelope's record keeps the addresses that
accepted it (``delivered``) and those refused for good (``failed``: address,
agency, whether it is the head, the server's reply). A recipient refused with
5xx while the others accepted fails that delivery and so the envelope, and a
failed envelope fails the row (models/lifecycle/deliveries.py reads these records back
and re-queues them). A later attempt of an envelope sends only to the
addresses that have neither accepted nor been refused for good, under the
same Message-ID: the others never get it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from models.lifecycle.ladder import message_id_for
from notifications.recipients import Person
from notifications.smtp import Outcome

SETTLED = ("sent", "failed")  # an envelope in one of these states is not sent again (until re-queued)


@dataclass
class Envelope:
    to: list[Person]
    cc: list[Person]
    message_id: str
    lead: str | None = None  # the lead agency this message is for, alone; only such a message may carry a link
    context: dict[str, Any] = field(default_factory=dict)  # what this message's text says differently
    earlier: dict[str, Any] | None = None  # this envelope's record from earlier attempts, if any

    @property
    def addresses(self) -> list[str]:
        """Whom this attempt sends to (RCPT TO): everyone the message names, less who has it or refused it for good.

        The headers still name everyone: it is the same message, with the same Message-ID.
        """
        done = _done(self.earlier)
        return [p.email for p in self.to + self.cc if p.email.lower() not in done]

    @property
    def owed(self) -> bool:
        """Whether this attempt sends it: not settled by an earlier attempt, and someone still to send it to."""
        return (self.earlier is None or self.earlier.get("state") not in SETTLED) and bool(self.addresses)

    def record(self, outcome: Outcome | None) -> dict[str, Any]:
        """What went where, as kept in the row's ``recipients``; ``None``: nobody was left to send it to."""
        earlier = self.earlier or {}
        delivered = list(earlier.get("delivered", []))
        failed = list(earlier.get("failed", []))
        out: dict[str, Any] = {"message_id": self.message_id, "to": [p.email for p in self.to],
                               "cc": [p.email for p in self.cc], "lead": self.lead,
                               "link": bool(self.context.get("link")), "state": "sent"}
        waiting = False
        if outcome is not None:
            tried = self.addresses
            refused = dict(outcome.refused)
            if outcome.state == "failed" and not refused:  # the message itself was refused (554 at DATA…): by all
                refused = {address: outcome.error or "" for address in tried}
            permanent = {a: r for a, r in refused.items() if _permanent(r, outcome)}
            waiting = outcome.state == "retry" or len(permanent) < len(refused)  # a 4xx for some: they wait
            if outcome.state == "sent":  # everyone it was sent to, but those who refused it
                delivered += [a for a in tried if a not in refused and a not in delivered]
            people = {p.email.lower(): p for p in self.to + self.cc}
            for address, reply in permanent.items():
                person = people.get(address.lower())
                failed.append({"address": address, "agency": person.agency if person else None,
                               "head": bool(person and person.head), "error": reply[:300]})
            if outcome.error:
                out["error"] = outcome.error[:500]
            if outcome.refused:
                out["refused"] = outcome.refused
        out["state"] = "retry" if waiting else "failed" if failed else "sent"
        out["delivered"], out["failed"] = delivered, failed
        if waiting:  # who still waits for it: who did not get it, if the row runs out of time
            done = {a.lower() for a in delivered} | {f["address"].lower() for f in failed}
            out["owed"] = [{"address": p.email, "agency": p.agency, "head": p.head} for p in self.to + self.cc
                           if p.email.lower() not in done]
        if out["state"] == "retry" and "error" not in out:
            out["error"] = "; ".join(f"{a}: {r}" for a, r in (outcome.refused if outcome else {}).items())
        return out


def _permanent(reply: str, outcome: Outcome) -> bool:
    """A 5xx reply refuses that recipient for good; a 4xx lets it wait; a whole failed message's error follows it."""
    code = reply[:3]
    return code.startswith("5") if code.isdigit() else outcome.state == "failed"


def _done(record: dict[str, Any] | None) -> set[str]:
    """Addresses an envelope is not sent to again: they accepted it, or refused it for good."""
    if not record:
        return set()
    return {a.lower() for a in record.get("delivered", [])} | {f["address"].lower() for f in record.get("failed", [])}


def split(to: list[Person], cc: list[Person], *, leads: Iterable[str], key: str, message_id: str,
          earlier: dict[str, dict[str, Any]] | None = None) -> list[Envelope]:
    """The row's envelopes: one per lead agency in ``to``, then one copy for everyone else (if anyone).

    ``earlier`` are the records of earlier attempts by Message-ID (see ``earlier``), so each envelope knows
    whom it still owes.
    """
    leads = set(leads)
    earlier = earlier or {}
    own = [p for p in to if p.agency in leads and not p.head]
    domain = message_id.rpartition("@")[2].rstrip(">")  # the domain the row was planned with, so the IDs stay stable
    envelopes = [Envelope(to=[p], cc=[], message_id=message_id_for(key, domain, p.agency), lead=p.agency) for p in own]
    rest = [p for p in to if p not in own]
    copy_to, copy_cc = (rest, cc) if rest else (cc, [])  # a copy to supporting agencies only: they are its To
    if copy_to:
        envelopes.append(Envelope(to=copy_to, cc=copy_cc, message_id=message_id))
    for envelope in envelopes:
        envelope.earlier = earlier.get(envelope.message_id)
    return envelopes


def earlier(recipients: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every envelope's record from earlier attempts, by Message-ID."""
    return {e["message_id"]: e for e in (recipients or {}).get("envelopes", [])}


def settled(recipients: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Envelopes of earlier attempts that must not be sent again, by Message-ID."""
    return {mid: e for mid, e in earlier(recipients).items() if e.get("state") in SETTLED}


@dataclass
class Settlement:
    state: str  # sent | failed | retry: what becomes of the row
    envelopes: list[dict[str, Any]]  # every envelope's record, earlier attempts' included
    error: str | None = None  # why the row fails or waits
    refused: dict[str, str] = field(default_factory=dict)  # recipients refused for good, with the server's reply


def settle(envelopes: list[Envelope], previous: dict[str, dict[str, Any]],
           results: list[tuple[Envelope, Outcome]]) -> Settlement:
    """Combine this attempt's outcomes with the earlier ones (``previous``: every earlier record by Message-ID).

    The row is sent once every envelope reached everyone it names; it waits for
    another attempt while any envelope failed transiently; otherwise a
    permanent refusal of anyone fails the row, the error naming the addresses.
    """
    now = {envelope.message_id: envelope.record(outcome) for envelope, outcome in results}
    records = []
    for envelope in envelopes:
        record = now.get(envelope.message_id) or previous.get(envelope.message_id)
        if record is not None and record.get("state") not in SETTLED and envelope.message_id not in now \
                and not envelope.addresses:
            record = envelope.record(None)  # re-queued, but everyone left has it or refused it for good
        if record is not None:
            records.append(record)
    # Owed now: a message of this row, as it is addressed today, that has not settled (sent, or refused for good).
    waiting = [r for r in records if r["state"] not in SETTLED]
    listed = {r["message_id"] for r in records}
    records += [r for mid, r in previous.items() if mid not in listed]  # sent before the registry changed
    refused = {f["address"]: f["error"] for r in records for f in r.get("failed", [])}
    failed = [r for r in records if r["state"] == "failed"]
    if waiting:
        errors = (r.get("error", "") for r in waiting if r["message_id"] in now)
        return Settlement("retry", records, _join(errors), refused)
    if failed:
        return Settlement("failed", records, _join(_naming(r) for r in failed), refused)
    return Settlement("sent", records, None, refused)


def _naming(record: dict[str, Any]) -> str:
    """The error of a failed envelope, naming the addresses that did not get it."""
    if record.get("failed"):
        return "; ".join(f["error"] if f["address"] in f["error"] else f"{f['address']}: {f['error']}"
                         for f in record["failed"])
    error = record.get("error", "")  # a record written before outcomes were kept per recipient
    addresses = record["to"] + record["cc"]
    return error if any(a in error for a in addresses) else f"{', '.join(addresses)}: {error}"


def _join(errors: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(e for e in errors if e))
