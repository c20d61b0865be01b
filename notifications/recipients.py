"""Who a message goes to, resolved from the registry as it stands when the message is sent."""

from __future__ import annotations

from dataclasses import dataclass

from models.store.tables import Agency

AGENCY_AUDIENCES = ("leads", "supporting", "coordinator", "provincial-office", "participants")


@dataclass(frozen=True)
class Person:
    name: str  # as addressed: the agency's name, or its head's title
    email: str
    agency: str
    head: bool = False


@dataclass(frozen=True)
class Scope:
    """What a message is about, enough to resolve any audience."""

    issuer: str
    provincial_office: str | None
    leads: tuple[str, ...] = ()
    supporting: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()


def resolve(audiences: list[str], scope: Scope, agencies: dict[str, Agency]) -> list[Person]:
    people: list[Person] = []

    def agency(code: str | None) -> None:
        if code and code in agencies:
            a = agencies[code]
            people.append(Person(a.name, a.email, code))

    def head(code: str | None) -> None:
        if code and code in agencies:
            a = agencies[code]
            people.append(Person(a.head_title, a.head_email, code, head=True))

    for audience in audiences:
        if audience == "leads":
            for code in scope.leads:
                agency(code)
        elif audience == "supporting":
            for code in scope.supporting:
                agency(code)
        elif audience == "lead-heads":
            for code in scope.leads:
                head(code)
        elif audience == "director":
            head(scope.issuer)
        elif audience == "coordinator":
            agency(scope.issuer)
        elif audience == "provincial-office":
            agency(scope.provincial_office)
        elif audience == "participants":
            for code in scope.participants:
                agency(code)
    return _unique(people)


def split_to_cc(to: list[Person], cc: list[Person]) -> tuple[list[Person], list[Person]]:
    """Nobody gets the same message twice: an address in To is dropped from Cc."""
    seen = {p.email.lower() for p in to}
    return to, [p for p in cc if p.email.lower() not in seen]


def _unique(people: list[Person]) -> list[Person]:
    seen: set[str] = set()
    out = []
    for person in people:
        if person.email.lower() not in seen:
            seen.add(person.email.lower())
            out.append(person)
    return out
