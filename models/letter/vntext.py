"""Vietnamese text as letters arrive: normalised once, folded for matching."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Word processors leave these behind; none of them carries meaning in a letter.
_INVISIBLE = {0xFEFF: None, 0x200B: None, 0x200C: None, 0x200D: None, 0x00AD: None, 0x00A0: " ", 0x202F: " ", 0x09: " "}


def clean(text: str) -> str:
    """The same letter however it was saved: NFC, no byte-order mark, LF line ends, plain spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)
    return unicodedata.normalize("NFC", text)


def squash(text: str) -> str:
    """Runs of whitespace as one space, trimmed."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """Lowercase without diacritics, one character for each character of ``text`` (NFC).

    Matching runs on the folded text, so "So Tai nguyen va Moi truong" finds
    "Sở Tài nguyên và Môi trường"; because lengths agree, a match's span is
    also its span in the original.
    """
    return "".join(_fold_char(c) for c in text)


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c in "đĐðÐ":  # Ð (eth) stands in for Đ in letters typed with old fonts
        return "d"
    base = "".join(ch for ch in unicodedata.normalize("NFD", c.lower()) if not unicodedata.combining(ch))
    return base if len(base) == 1 else c


def capitalised(word: str) -> bool:
    return bool(word) and word[0].isupper()


def sentences(text: str) -> list[str]:
    """A paragraph cut after . ! ? where the next word starts with a capital letter."""
    parts, start = [], 0
    for match in re.finditer(r"[.!?]\s+(?=\S)", text):
        if capitalised(text[match.end():match.end() + 1]):
            parts.append(text[start:match.end()].strip())
            start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]
