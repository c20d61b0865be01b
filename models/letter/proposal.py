"""A letter turned into a proposed directive: agencies matched, roles found, deadlines computed.

What the letter leaves open stays open here (a ``Ref`` without one code, an
assignment without a due date); models/letter/draft.py turns those into placeholders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from models.letter.agency_match import AgencyIndex, Mention
from models.letter.deadlines import Deadline, find_deadlines
from models.definition.definition import RegistryDef
from models.letter.letter import Item, Letter
from models.definition.naming import slugify
from models.letter.roles import Roles, find_roles
from models.letter.vntext import fold
from models.calendar.workdays import WorkCalendar


@dataclass(frozen=True)
class Ref:
    """An agency as the letter names it: one code when matched, several when ambiguous, none when unknown."""

    text: str
    codes: tuple[str, ...] = ()

    @property
    def code(self) -> str | None:
        return self.codes[0] if len(self.codes) == 1 else None


@dataclass
class Proposed:
    key: str
    title: str
    action: str
    leads: list[Ref]
    supporting: list[Ref] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # "các đơn vị liên quan": no one in particular
    lead_note: str | None = None  # where the leads come from when the item names none
    deadlines: list[Deadline] = field(default_factory=list)
    deadline_from: str = ""  # "" (the item), "lead-in" or "letter"

    @property
    def due(self) -> date | None:
        dates = {d.due for d in self.deadlines}
        return dates.pop() if len(dates) == 1 else None


@dataclass
class Proposal:
    number: str | None
    issued_on: date | None
    place: str | None
    subject: str | None
    issuer: Ref
    report_to: list[Ref]
    recipient_groups: list[str]
    assignments: list[Proposed]

    def agencies(self) -> list[Ref]:
        """Every agency named, once."""
        refs = [self.issuer, *self.report_to, *(r for a in self.assignments for r in (*a.leads, *a.supporting))]
        return _union([], [r for r in refs if r.text or r.codes])


_QUY = re.compile(r"\bquy (?:co quan|don vi|so|ban|cuc|uy ban)\b")
_STOP = set("va cac nhung cua voi se chu tri phoi hop trong thang nam de theo tren dia ban tinh cho ve la mot so viec "
            "thuc hien ngay truoc cung".split())
_KEY_STOP = {"va", "cac", "nhung", "cua", "voi", "viec", "thuc", "hien", "tren", "dia", "ban", "tinh", "trong", "cho"}
_LEADING = re.compile(r"^(?:[\s,:;]|chu tri\b|phoi hop\b|se\b)+")


def propose(letter: Letter, registry: RegistryDef, calendar: WorkCalendar) -> Proposal:
    index = AgencyIndex(registry)
    recipients = [m for line in letter.recipients for m in index.lookup(line)]
    report_to = _refs(m for m in recipients if m.specific)
    remarks = [d for text in letter.remarks for d in find_deadlines(text, issued_on=letter.issued_on, calendar=calendar)]
    issuer = _issuer(letter, index)
    assignments: list[tuple[Proposed, Item]] = []
    explicit: list[tuple[Proposed, set[str]]] = []  # list items that name their leads, with their words
    for item in letter.items:
        proposed, words, named = _read_item(item, index)
        if item.form == "prose" and not named:  # a sentence that gives no one anything to do
            remarks += find_deadlines(item.text, issued_on=letter.issued_on, calendar=calendar)
            continue
        if item.form == "prose" and _merge(proposed, words, explicit):
            continue
        if not named:
            note = proposed.lead_note
            _inherit(proposed, item, index, recipients, issuer)
            proposed.lead_note = f"{note}; {proposed.lead_note}" if note and proposed.lead_note else proposed.lead_note
        elif item.form == "list":
            explicit.append((proposed, words))
        assignments.append((proposed, item))
    for proposed, item in assignments:
        proposed.supporting = [r for r in proposed.supporting if _key(r) not in {_key(lead) for lead in proposed.leads}]
        _set_deadlines(proposed, item.lead_ins if item.form == "list" else (), remarks, letter.issued_on, calendar)
    _set_keys([proposed for proposed, _ in assignments])
    subject = letter.subject.strip() if letter.subject else None
    return Proposal(number=letter.number, issued_on=letter.issued_on, place=letter.place,
                    subject=subject[:1].upper() + subject[1:] if subject else None, issuer=issuer,
                    report_to=report_to, recipient_groups=[m.text for m in recipients if not m.specific],
                    assignments=[proposed for proposed, _ in assignments])


def _read_item(item: Item, index: AgencyIndex) -> tuple[Proposed, set[str], bool]:
    """The item as an assignment, the words that say what it asks, and whether it names its lead."""
    mentions = index.mentions(item.text)
    roles = find_roles(item.text, mentions)
    named = any(m.specific for m in roles.leads)
    start = roles.clause if item.form == "prose" else 0
    action = item.text[start:].strip()
    proposed = Proposed(key="", title=_title(item.text[roles.rest:] if roles.leads else item.text) or action,
                        action=action, leads=_refs(m for m in roles.leads if m.specific),
                        supporting=_refs(m for m in roles.supporting if m.specific),
                        groups=[m.text for m in (*(roles.leads if named else ()), *roles.supporting) if not m.specific])
    if roles.leads and not named:
        proposed.lead_note = f"mục này nêu «{roles.leads[0].text}»"
    return proposed, _words(item.text, mentions, start), named


def _key(ref: Ref) -> tuple[str, ...]:
    return ref.codes or (fold(ref.text),)


def _refs(mentions) -> list[Ref]:
    return _union([], [Ref(m.text, m.codes) for m in mentions])


def _union(refs: list[Ref], more: list[Ref]) -> list[Ref]:
    """``refs`` and then those of ``more`` it does not hold yet, by agency."""
    seen = {_key(r) for r in refs}
    out = list(refs)
    for ref in more:
        if _key(ref) not in seen:
            seen.add(_key(ref))
            out.append(ref)
    return out


def _issuer(letter: Letter, index: AgencyIndex) -> Ref:
    """From the ký hiệu's abbreviation, checked against the header; where they disagree, both are offered."""
    symbol = next((Ref(part, index.by_abbreviation(part)) for part in letter.symbol if index.by_abbreviation(part)), None)
    # The issuing agency is the header's last line, or its last two when its name is long ("ỦY BAN NHÂN DÂN / TỈNH LONG AN").
    lines = [" ".join(letter.header[-n:]) for n in (1, 2) if len(letter.header) >= n]
    starts = [found[0] for found in map(index.lookup, lines) if found and found[0].start == 0]
    header = next((Ref(m.text, m.codes) for m in starts if m.kind == "agency"), None)
    if symbol and header and symbol.codes != header.codes:
        return Ref(f"{symbol.text} / {header.text}", tuple(sorted({*symbol.codes, *header.codes})))
    return symbol or header or Ref(letter.symbol[0] if letter.symbol else "")


def _inherit(proposed: Proposed, item: Item, index: AgencyIndex, recipients: list[Mention], issuer: Ref) -> None:
    """Leads for an item that names none: its lead-in's, the recipients', or the issuer."""
    for lead_in in item.lead_ins:
        roles: Roles = find_roles(lead_in, index.mentions(lead_in))
        if any(m.specific for m in roles.leads):
            proposed.leads = _refs(m for m in roles.leads if m.specific)
            proposed.supporting = _union(proposed.supporting, _refs(m for m in roles.supporting if m.specific))
            proposed.lead_note = f"theo câu dẫn «{_short(lead_in[roles.clause:].strip())}»"
            return
        if roles.leads or _QUY.search(fold(lead_in)):
            proposed.leads = _refs(m for m in recipients if m.specific)
            proposed.lead_note = f"theo câu dẫn «{_short(lead_in[roles.clause:].strip())}», là các cơ quan ở phần Kính gửi"
            return
    if issuer.codes:
        proposed.leads = [issuer]
        proposed.lead_note = "văn bản không nêu cơ quan chủ trì; đề xuất cơ quan ban hành"


def _merge(proposed: Proposed, words: set[str], explicit: list[tuple[Proposed, set[str]]]) -> bool:
    """A sentence after a list that goes on about one of its items (same leads, mostly the same words) joins it."""
    leads = {r.codes for r in proposed.leads}
    scored = [(len(words & other_words) / max(len(words), 1), other) for other, other_words in explicit
              if {r.codes for r in other.leads} == leads]
    score, target = max(scored, key=lambda s: s[0], default=(0, None))
    if target is None or score < 0.5:
        return False
    target.action = f"{target.action} {proposed.action}"
    target.supporting = _union(target.supporting, proposed.supporting)
    target.groups += [g for g in proposed.groups if g not in target.groups]
    return True


def _words(text: str, mentions: list[Mention], start: int = 0) -> set[str]:
    """The words of ``text[start:]`` that say what is to be done: no agencies, no role words."""
    folded = fold(text)
    for m in mentions:
        folded = folded[:m.start] + " " * (m.end - m.start) + folded[m.end:]
    return set(re.findall(r"[a-z]+", folded[start:])) - _STOP


def _set_deadlines(proposed: Proposed, lead_ins: tuple[str, ...], remarks: list[Deadline], issued_on: date | None,
                   calendar: WorkCalendar) -> None:
    """The item's own deadline, else its lead-in's, else the one the letter states for all."""
    proposed.deadlines = find_deadlines(proposed.action, issued_on=issued_on, calendar=calendar)
    for lead_in in lead_ins:
        if proposed.deadlines:
            return
        proposed.deadlines, proposed.deadline_from = (
            find_deadlines(lead_in, issued_on=issued_on, calendar=calendar), "lead-in")
    if not proposed.deadlines:
        proposed.deadlines, proposed.deadline_from = list(remarks), "letter"


def _title(text: str) -> str:
    text = text[_LEADING.match(fold(text)).end():] if _LEADING.match(fold(text)) else text
    text = re.split(r"[;.]\s|[;.]$|\s\(", text, maxsplit=1)[0].strip(" ,:")
    if len(text) > 100:
        comma = text.rfind(",", 40, 100)
        text = text[:comma] if comma > 0 else text[:text.rfind(" ", 0, 100)] + "…"
    return text[:1].upper() + text[1:]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:text.rfind(" ", 0, limit)] + " …"


def _set_keys(assignments: list[Proposed]) -> None:
    """Lowercase ASCII keys from the titles' first words, unique."""
    seen: set[str] = set()
    for a in assignments:
        words = [w for w in slugify(a.title).split("-") if w not in _KEY_STOP][:5]
        base = "-".join(words)[:40].strip("-") or "nhiem-vu"
        key, n = base, 2
        while key in seen:
            key, n = f"{base}-{n}", n + 1
        seen.add(key)
        a.key = key
