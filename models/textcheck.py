"""What typed text may contain, and how stored text is shown safely.

Agency and coordinator text lands in the append-only audit trail for good, so
it is checked once at input, on every path (reply pages, CLI, Prefect forms,
definition files), and shown defensively at output, where a bad string that is
already stored must never break a page, a terminal, a .docx or a report.

Input rules, by kind of field:

- ``note`` (free text over several lines): no C0 or C1 control character except
  tab and newline (CR LF and CR are read as newline first), and no bidirectional
  embedding, override or isolate, which could make a note read differently from
  what is stored (the "Trojan Source" trick).
- ``line`` (names, titles, reasons on one line, dates, numbers): no control
  character at all, and no invisible formatting character (Unicode category
  Cf: bidi marks, zero-width spaces and joiners, the byte-order mark, soft hyphen).
- ``number`` (số, ký hiệu of a document): as ``line``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from models.errors import InputError

Kind = Literal["note", "line", "number"]

# Bidirectional embeddings, overrides and isolates: refused even in free text.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NOTE_ALLOWED = frozenset("\t\n")


def _is_control(c: str) -> bool:
    return unicodedata.category(c) == "Cc"  # C0, DEL and C1


def _is_invisible(c: str) -> bool:
    return unicodedata.category(c) == "Cf" or c in BIDI_CONTROLS


def codepoint(c: str) -> str:
    return f"U+{ord(c):04X}"


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def offending(text: str, kind: Kind = "line") -> str | None:
    """The first character ``text`` may not hold as a field of that kind, or None."""
    if kind == "note":
        text = normalise_newlines(text)
        for c in text:
            if (_is_control(c) and c not in _NOTE_ALLOWED) or c in BIDI_CONTROLS:
                return c
        return None
    for c in text:
        if _is_control(c) or _is_invisible(c) or unicodedata.category(c) in ("Cs", "Co", "Cn"):
            return c
    return None


def problem(text: str, kind: Kind = "line") -> str | None:
    """A Vietnamese sentence saying what is wrong with ``text`` (no subject: the caller names the field), or None."""
    c = offending(text, kind)
    if c is None:
        return None
    what = "ký tự điều khiển" if _is_control(c) else "ký tự ẩn hoặc ký tự đảo chiều văn bản"
    if kind == "note":
        return f"chứa {what} ({codepoint(c)}) không được phép; chỉ được xuống dòng và dùng dấu tab"
    return f"chứa {what} ({codepoint(c)}) không được phép; chỉ được dùng chữ, số và dấu câu thông thường trên một dòng"


def check_text(value: str | None, kind: Kind, *, name: str, label: str) -> None:
    """Refuse text that may not be stored, naming the field: its parameter name, as the CLI and the Prefect
    form spell it, and what it is in Vietnamese. Every write path (reply pages, CLI, Prefect forms) passes here."""
    if value is None:
        return
    bad = problem(value, kind)
    if bad:
        raise InputError(f"{label} ({name}) {bad}")


# A số, ký hiệu: digits, a slash, then letters (Vietnamese capitals too), digits and dashes, e.g.
# 2550/STTTT-BCTT, 123/QĐ-UBND, 15/2020/NĐ-CP, 45/KH-UBND.
_NUMBER = re.compile(r"^[0-9]{1,6}(/[^\W_]+(-[^\W_]+)*)+$")


def number_problem(text: str) -> str | None:
    """What is wrong with a directive's số, ký hiệu, or None. The text is taken as given (not stripped)."""
    bad = problem(text, "number")
    if bad:
        return bad
    if not _NUMBER.match(text):
        return ("phải có dạng số, ký hiệu văn bản: chữ số, dấu gạch chéo, rồi chữ cái, chữ số và dấu gạch ngang, "
                "không có khoảng trắng (ví dụ 2550/STTTT-BCTT, 15/2020/NĐ-CP)")
    return None


def shown(text: str, *, multiline: bool = False) -> str:
    """Stored text made safe to display anywhere: every control or invisible character as a visible ``\\u…`` code.

    Tab and newline are kept when ``multiline``. Nothing is dropped, so what is
    shown still says what was stored.
    """
    out = []
    for c in text:
        if multiline and c in _NOTE_ALLOWED:
            out.append(c)
        elif _is_control(c) or _is_invisible(c) or unicodedata.category(c) in ("Cs", "Co", "Cn"):
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return "".join(out)
