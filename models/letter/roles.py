"""Who leads (chủ trì) and who supports (phối hợp) in one action item.

A lead is, in this order: the agencies just before "chủ trì" ("Sở Công
Thương, Ban Quản lý Khu Kinh tế chủ trì"); those after "Giao", "Đề nghị",
"Yêu cầu" ("Giao Sở Xây dựng …"); those the item begins with ("Sở Tài
nguyên và Môi trường hướng dẫn …"). Supporting agencies follow "phối hợp
với", "cùng", "với sự phối hợp của", or, when a lead was named, precede
"phối hợp" ("…; Sở Xây dựng phối hợp").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.letter.agency_match import Mention
from models.letter.vntext import fold

_JOIN = re.compile(r"\s*,?\s*(?:va\s+)?")
_FILLER = r"(?:\s*,?\s*(?:se|co trach nhiem|tiep tuc|khan truong|la co quan|la don vi|duoc giao|lam dau moi|truc tiep))*"
_CHAIRS = re.compile(rf"{_FILLER}\s*,?\s*chu tri\b")
# Words that hand work to whoever follows them. "Kính đề nghị" asks a superior for something: it assigns nothing.
ASSIGNING = r"(?<![\w])(?:giao(?:\s+cho)?|(?<!kinh )(?:de nghi|yeu cau|phan cong))"
_TRIGGER = re.compile(rf"{ASSIGNING}\s+$")
_WITH = re.compile(r"(?<![\w])(?:phoi hop voi|phoi hop cung|cung voi|cung|voi su phoi hop cua|voi su tham gia cua|phoi hop)\s+$")
_WITH_NEXT = re.compile(r"\s*,?\s*(?:phoi hop voi|phoi hop cung|cung voi|cung|phoi hop)\s+")
_SUPPORTS = re.compile(r"\s*(?:cung\s+)?phoi hop\b")
_CLAUSE = re.compile(r"[,;:]")


@dataclass(frozen=True)
class Roles:
    leads: tuple[Mention, ...] = ()
    supporting: tuple[Mention, ...] = ()
    clause: int = 0  # where the clause naming the lead starts
    rest: int = 0  # where the text after the lead and its "chủ trì, phối hợp với …" starts


def find_roles(text: str, mentions: list[Mention]) -> Roles:
    """The roles in ``text``, given the ``mentions`` AgencyIndex found in it."""
    folded = fold(text)
    runs = _runs(folded, mentions)
    lead, rest, explicit = None, 0, False  # explicit: the lead was named by "chủ trì" or "Giao …", not by position
    for run in runs:
        chairs = _CHAIRS.match(folded, run[-1].end)
        if chairs:
            lead, rest, explicit = run, chairs.end(), True
            break
    if lead is None:
        lead = next((run for run in runs if _TRIGGER.search(folded, 0, run[0].start)), None)
        explicit = lead is not None
        if lead is None and runs and not folded[:runs[0][0].start].strip():
            lead = runs[0]
        rest = lead[-1].end if lead else 0
    supporting: list[Mention] = []
    for run in runs:
        if run is lead:
            continue
        if _WITH.search(folded, 0, run[0].start) or (explicit and _SUPPORTS.match(folded, run[-1].end)):
            supporting += run
            if lead is not None and _WITH_NEXT.fullmatch(folded, rest, run[0].start):
                rest = run[-1].end
    if lead is None:
        return Roles(supporting=tuple(supporting))
    start = lead[0].start
    trigger = _TRIGGER.search(folded, 0, start)
    start = trigger.start() if trigger else start
    clause = max((m.end() for m in _CLAUSE.finditer(folded, 0, start)), default=0)
    return Roles(leads=tuple(lead), supporting=tuple(supporting), clause=clause, rest=rest)


def _runs(folded: str, mentions: list[Mention]) -> list[list[Mention]]:
    """Mentions joined only by commas and "và": one list of agencies each."""
    runs: list[list[Mention]] = []
    for mention in mentions:
        if runs and _JOIN.fullmatch(folded, runs[-1][-1].end, mention.start):
            runs[-1].append(mention)
        else:
            runs.append([mention])
    return runs
