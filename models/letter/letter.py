"""A Vietnamese administrative letter (công văn, kế hoạch, thông báo) read into its parts.

The layout is the one of Decree 30/2020/NĐ-CP: a header (issuing body, Số,
place and date, V/v or the document type and its trích yếu, Kính gửi), a body
of paragraphs and lists, then Nơi nhận and the signature, which are not read.
Nothing here knows the agencies: see models/letter/agency_match.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from models.errors import InputError
from models.letter.roles import ASSIGNING
from models.letter.vntext import clean, fold, sentences, squash


@dataclass(frozen=True)
class Item:
    """One candidate action item, verbatim."""

    text: str
    form: str  # "list" (bullet, number, letter) or "prose" (a sentence that assigns)
    lead_ins: tuple[str, ...] = ()  # the sentences that introduce it, innermost first


@dataclass(frozen=True)
class Letter:
    number: str | None
    place: str | None
    issued_on: date | None
    header: tuple[str, ...]  # the capitalised lines naming the parent body and the issuing agency
    subject: str | None
    recipients: tuple[str, ...]
    items: tuple[Item, ...]
    remarks: tuple[str, ...]  # body sentences that assign nothing; a deadline there is the whole letter's

    @property
    def symbol(self) -> list[str]:
        """The parts of the ký hiệu after "/", without the document type: ``45/KH-UBND`` → ``["UBND"]``."""
        if not self.number or "/" not in self.number:
            return []
        parts = [p for p in self.number.split("/", 1)[1].split("-") if p]
        return [p for p in parts if fold(p).upper() not in _TYPE_CODES] or parts


# Ký hiệu of document types (Decree 30/2020, Appendix III) that precede the issuer's abbreviation.
_TYPE_CODES = {"NQ", "QD", "CT", "QC", "QYD", "TC", "HD", "CTR", "KH", "PA", "DA", "BC", "BB", "TTR",
               "CV", "CD", "BGN", "BTT", "GUQ", "GM", "GGT", "GNP", "PG", "PC", "PB", "TB", "TH", "KL", "GP"}
_DOC_TYPES = {"ke hoach", "thong bao", "quyet dinh", "chi thi", "bao cao", "to trinh", "huong dan", "cong dien",
              "chuong trinh", "cong van", "ket luan", "phuong an"}
_NUMBER = re.compile(r"^so\s*:\s*(\d*\s*/\s*[^\s,]+)")
_DATE = re.compile(r"([^,]{2,60}),\s*ngay\s+(\d{1,2})\s+thang\s+(\d{1,2})\s+nam\s+(\d{4})")
_SUBJECT = re.compile(r"^v/v\b\s*:?\s*")
_RECIPIENTS = re.compile(r"^kinh gui\s*:?\s*")
# The national motto, rules drawn under it, and the marks of urgency or secrecy stamped in the header.
_MOTTO = re.compile(r"^(cong hoa xa hoi chu nghia viet nam|doc lap\s*-\s*tu do\s*-\s*hanh phuc)\b|^[-_=.*\s]+$"
                    r"|^(khan|thuong khan|hoa toc|hoa toc hen gio|mat|toi mat|tuyet mat|du thao)$")
_BODY_START = re.compile(r"^(can cu|thuc hien|xet)\b")
_CLOSING = re.compile(r"^(noi nhan|tran trong)\b|^(kt|tm|tl|ktl|q)\.\s*\S")
_SIGNATURE_TITLES = {"giam doc", "pho giam doc", "chu tich", "pho chu tich", "truong ban", "pho truong ban", "cuc truong"}
_MARKER = re.compile(r"^(?:(?P<bullet>[-–—•+*▪●◦])\s*|(?P<number>\d{1,2}(?:\.\d{1,2})*)(?P<nsep>[.)])\s+"
                     r"|(?P<letter>[a-zđ])(?P<lsep>[.)])\s+|(?P<roman>[IVX]{1,5})[.)]\s+)(?=\S)")
_CUE = re.compile(rf"\bchu tri\b|{ASSIGNING}\b")
# Sections of a kế hoạch that state aims or money, not tasks.
_AIMS = re.compile(r"muc dich|yeu cau|muc tieu|quan diem|kinh phi|can cu")
_END = ".!?:"


def read_letter(text: str) -> Letter:
    """The parts of a letter; ``InputError`` when the text has neither a number nor a date line."""
    lines = [squash(line) for line in clean(text).split("\n")]
    head = _Header(lines)
    if head.number is None and head.date_line is None:
        raise InputError("không nhận ra văn bản hành chính: không có dòng «Số: …» và dòng địa danh, ngày tháng năm")
    body = []
    for line in lines[head.end:]:
        folded = fold(line.lstrip("*_# "))
        if _CLOSING.match(folded) or (line.isupper() and folded.strip(" *") in _SIGNATURE_TITLES):
            break
        body.append(line)
        if line.endswith("./."):
            break
    items, remarks = _items(_blocks(body))
    place, issued_on = head.place_and_date()
    return Letter(number=head.number, place=place, issued_on=issued_on, header=tuple(head.caps),
                  subject=head.subject, recipients=tuple(head.recipients), items=tuple(items), remarks=tuple(remarks))


class _Header:
    """Reads the header lines; ``end`` is the index of the first body line."""

    def __init__(self, lines: list[str]):
        self.number: str | None = None
        self.date_line: re.Match[str] | None = None
        self._date_text = ""
        self.subject: str | None = None
        self.recipients: list[str] = []
        self.caps: list[str] = []
        self.end = 0
        state = ""  # what a following plain line continues: "subject" or "recipients"
        for i, line in enumerate(lines[:80]):
            folded = fold(line)
            anchor = self._anchor(line, folded)
            if not line:
                state = "" if state == "subject" else state  # recipients may stand a paragraph each (.docx)
                continue
            if anchor:
                state = anchor
            elif _MOTTO.match(folded):
                state = ""
            elif state == "subject" and not _BODY_START.match(folded):
                self.subject = f"{self.subject} {line}".strip()
            elif state == "recipients" and self._recipient(line):
                pass
            elif self.number is None and self.date_line is None:
                if line.isupper():
                    self.caps.append(line)
            else:
                break
            self.end = i + 1

    def _anchor(self, line: str, folded: str) -> str:
        """The kind of header line this is ("number", "subject", "recipients", …), or ""."""
        # Once found, a number or a date further down belongs to the body ("Ngày 14 tháng 12 năm 2020, …").
        number = _NUMBER.match(folded) if self.number is None else None
        if number:
            self.number = re.sub(r"\s+", "", line[number.start(1):number.end(1)])
            line, folded = line[number.end():], folded[number.end():]
        found = _DATE.search(folded) if self.date_line is None else None
        if found:
            self.date_line, self._date_text = found, line
        if number or found:
            return "number"
        subject = _SUBJECT.match(folded)
        if subject or (line.isupper() and folded in _DOC_TYPES):
            self.subject = line[subject.end():] if subject else ""
            return "subject"
        recipients = _RECIPIENTS.match(folded)
        if recipients:
            inline = line[recipients.end():]
            self.recipients += [r for r in (_strip_item(p) for p in inline.split(";")) if r]
            self._last = inline or ";"
            return "recipients"
        return ""

    def _recipient(self, line: str) -> bool:
        """Takes a line of the Kính gửi list: a bullet, or a line after one that ends with ";"."""
        marked = _MARKER.match(line)
        if not (marked and marked.group("bullet")) and (not self._last.endswith((";", ",")) or len(line) > 120):
            return False
        self._last = line
        self.recipients.append(_strip_item(line))
        return True

    def place_and_date(self) -> tuple[str | None, date | None]:
        if self.date_line is None:
            return None, None
        found = self.date_line
        place = self._date_text[found.start(1):found.end(1)].strip(" ,") or None
        try:
            return place, date(int(found.group(4)), int(found.group(3)), int(found.group(2)))
        except ValueError:
            return place, None


def _strip_item(text: str) -> str:
    marked = _MARKER.match(text)
    return (text[marked.end():] if marked else text).strip().rstrip(";,.").strip()


@dataclass
class _Block:
    text: str
    kind: str  # "prose", "list" or "heading"
    marker: str = ""  # the kind of list marker: "-", "+", "1.", "1)", "1.1.", "a)", …


def _blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    open_block: _Block | None = None
    for line in lines:
        if not line:
            open_block = None
            continue
        marked = _MARKER.match(line)
        bullet = marked is not None and marked.group("bullet") is not None
        if (marked and marked.group("roman")) or (line.isupper() and not bullet and any(c.isalpha() for c in line)):
            blocks.append(_Block(line, "heading"))
            open_block = None
            continue
        if marked:
            kind = marked.group("bullet") or (
                re.sub(r"\d+", "1", marked.group("number")) + marked.group("nsep") if marked.group("number")
                else "a" + marked.group("lsep"))
            open_block = _Block(line[marked.end():], "list", kind)
            blocks.append(open_block)
        elif open_block is not None:
            open_block.text += " " + line
        elif blocks and blocks[-1].kind == "prose" and not blocks[-1].text.endswith(tuple(_END + ";")):
            # A paragraph broken in the middle of a sentence by a stray empty line.
            open_block = blocks[-1]
            open_block.text += " " + line
        else:
            open_block = _Block(line, "prose")
            blocks.append(open_block)
        if line.endswith(tuple(_END)):
            open_block = None
    return blocks


def _items(blocks: list[_Block]) -> tuple[list[Item], list[str]]:
    items: list[Item] = []
    remarks: list[str] = []
    stack: list[tuple[str, str]] = []  # enclosing lead-ins: (marker kind, sentence)
    aims = False
    for i, block in enumerate(blocks):
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        starts_list = following is not None and following.kind == "list"
        if block.kind == "heading":
            stack, aims = [], bool(_AIMS.search(fold(block.text)))
            continue
        if block.kind == "prose":
            stack = []
            parts = sentences(block.text)
            if starts_list and block.text.endswith(":"):
                stack = [("", parts.pop())]
            for sentence in parts:
                if _CUE.search(fold(sentence)) and not aims:
                    items.append(Item(sentence, "prose"))
                else:
                    remarks.append(sentence)
            continue
        kinds = [kind for kind, _ in stack]
        if block.marker in kinds:
            del stack[kinds.index(block.marker):]
        if aims:
            remarks.append(block.text)
        elif starts_list and following.marker != block.marker and following.marker not in kinds:
            stack.append((block.marker, block.text))
        else:
            items.append(Item(block.text, "list", tuple(text for _, text in reversed(stack))))
    return items, remarks
