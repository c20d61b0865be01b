"""Finding the agencies a letter names, and matching them to a registry.

Names are matched by full name and short names, with or without diacritics,
the longest first ("Văn phòng UBND tỉnh" before "UBND tỉnh"). Besides registry
agencies, a text names groups ("các đơn vị liên quan"), which stand for no one
in particular, and agencies the registry does not hold ("Sở Tài chính").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.definition.definition import RegistryDef
from models.letter.vntext import capitalised, fold, squash


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str
    kind: str  # "agency" (in the registry), "group" or "unknown"
    codes: tuple[str, ...] = ()  # the registry agencies it may be: one, or several when ambiguous

    @property
    def specific(self) -> bool:
        """Names one body, known or not, rather than a group."""
        return self.kind != "group"


_NOUN = r"(?:co quan|don vi|so|ban|nganh|doanh nghiep|dia phuong|to chuc|nha mang|huyen|thi xa|thanh pho|phong|xa|chu dau tu)"
_NOUNS = rf"{_NOUN}(?:\s*(?:,|va)\s*{_NOUN})*"
_GROUP = re.compile(rf"(?<![\w])(?:(?:cac|nhung)\s+{_NOUNS}|(?:ubnd|uy ban nhan dan)\s+cac\s+{_NOUNS}|doanh nghiep)"
                    r"(?:\s+(?:co lien quan|lien quan|vien thong|truc thuoc|tinh))*(?![\w])")
# The first words of an agency's name; the name goes on while its words are capitalised.
_HEAD = re.compile(r"(?<![\w])(?:so|ban|bo|cuc|chi cuc|chi nhanh|uy ban nhan dan|ubnd|van phong|cong an|kho bac|dai|bao"
                   r"|trung tam|thanh tra|tinh doan|hoi|lien doan|ngan hang|bao hiem xa hoi|buu dien|dien luc"
                   r"|cong ty|tong cong ty|truong|benh vien|vien|quy|bo chi huy)(?![\w])")
_PLACE_WORDS = {"tinh", "huyen", "thi", "xa", "thanh", "pho", "phuong"}


def alias_key(name: str) -> str:
    return re.sub(r"\s*&\s*", "&", squash(fold(name)))


class AgencyIndex:
    """The names of one registry's agencies, ready to be found in text."""

    def __init__(self, registry: RegistryDef):
        self.names = {a.code: a.name for a in registry.agencies}
        self._aliases: dict[str, set[str]] = {}
        for agency in registry.agencies:
            for name in (agency.name, *agency.short_names):
                self._aliases.setdefault(alias_key(name), set()).add(agency.code)
        keys = sorted(self._aliases, key=len, reverse=True)
        alternatives = "|".join(r"\s*&\s*".join(r"\s+".join(map(re.escape, part.split())) for part in k.split("&"))
                                for k in keys)
        place = alias_key(re.sub(r"(?i)^t[iỉ]nh\s+", "", registry.title))
        # "Sở Xây dựng tỉnh Long An" is still Sở Xây dựng.
        self._pattern = re.compile(rf"(?<![\w])({alternatives})(?:\s+(?:tinh\s+)?{re.escape(place)}|\s+tinh)?(?![\w])")

    def mentions(self, text: str) -> list[Mention]:
        """Every agency, group and unknown agency named in ``text`` (NFC), in order, none overlapping."""
        folded = fold(text)
        found = [Mention(m.start(), m.end(), text[m.start():m.end()], "agency",
                         tuple(sorted(self._aliases[alias_key(m.group(1))]))) for m in self._pattern.finditer(folded)]
        taken = [(m.start, m.end) for m in found]

        def free(start: int, end: int) -> bool:
            return all(end <= a or start >= b for a, b in taken)

        for m in _GROUP.finditer(folded):
            if free(m.start(), m.end()):
                found.append(Mention(m.start(), m.end(), text[m.start():m.end()], "group"))
                taken.append((m.start(), m.end()))
        for m in _HEAD.finditer(folded):
            end = _name_end(text, m.end()) if capitalised(text[m.start()]) and free(m.start(), m.end()) else None
            if end is not None and free(m.start(), end):
                found.append(Mention(m.start(), end, text[m.start():end], "unknown"))
                taken.append((m.start(), end))
        return sorted(found, key=lambda m: m.start)

    def lookup(self, names: str) -> list[Mention]:
        """What a line of names (a recipient, a header line) stands for: each agency or group it names,
        or, naming none the registry knows, the whole line as one unknown agency."""
        names = squash(re.sub(r"\([^)]*\)", "", names)).strip(" ;,.")
        return self.mentions(names) or ([Mention(0, len(names), names, "unknown")] if names else [])

    def by_abbreviation(self, abbreviation: str) -> tuple[str, ...]:
        """Agencies whose code or short name is the abbreviation of a ký hiệu (``STTTT``, ``UBND``)."""
        key = alias_key(abbreviation)
        if key in self.names:
            return (key,)
        return tuple(sorted(self._aliases.get(key, ())))


def _name_end(text: str, pos: int) -> int | None:
    """Where an agency name that starts before ``pos`` ends, or None when no capitalised word follows its head."""
    end, named, after_capital = pos, False, False
    words = list(re.finditer(r"\S+", text[pos:]))
    for i, match in enumerate(words):
        if match.start() != (end - pos) + 1:  # only one space between the words of a name
            break
        word = match.group().rstrip(",;.:)")
        following = words[i + 1].group() if i + 1 < len(words) else ""
        if capitalised(word):
            named, after_capital = True, True
        elif fold(word) in _PLACE_WORDS:  # "Công an tỉnh", "UBND huyện Đức Hòa"
            named, after_capital = True, False
        elif word.islower() and after_capital:
            after_capital = False
        elif word in ("và", "-", "&", "va") and capitalised(following):
            after_capital = False
        else:
            break
        end = pos + match.start() + len(word)
        if word != match.group():
            break
    return end if named else None
