"""Reading YAML with line numbers, and turning validation errors into located problems.

Definitions come from coordinators, from the Prefect launch form (pasted text)
and from anyone who can put a file in the directives folder, so the reader
bounds its work before it builds anything: a file of at most ``MAX_BYTES``,
a document of at most ``MAX_NODES`` nodes counting every alias as the nodes it
repeats (a "billion laughs" bomb is ten short lines), nested at most
``MAX_DEPTH`` levels. Each refusal names the file and the line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

from models.errors import Problem


MAX_BYTES = 1024 * 1024
MAX_NODES = 50_000  # the seed directive has about 140; a registry of 1,000 agencies about 20,000
MAX_DEPTH = 64  # the schema nests 5 deep


# Dates stay strings here so that a bad one ("2020-02-30") becomes a located
# validation problem instead of an exception from deep inside the parser.
class _Fast(SafeConstructor):
    pass


class _Located(RoundTripConstructor):
    pass


_Fast.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
_Located.add_constructor("tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str)


def _fast_yaml() -> YAML:
    """The C parser (ruamel.yaml.clib): about 8× faster, but it keeps no line numbers."""
    yaml = YAML(typ="safe", pure=False)
    yaml.Constructor = _Fast
    return yaml


def _located_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Located
    return yaml


class Source:
    """One parsed YAML document and where it came from.

    Documents are read with the fast parser; only when a problem must be
    located is the text parsed again, keeping line numbers.
    """

    def __init__(self, name: str, data: Any, text: str):
        self.name = name
        self.data = data
        self.text = text
        self._located: Any = None

    def line_of(self, loc: Sequence[Any]) -> int | None:
        """The 1-based line of the deepest node along ``loc`` that exists."""
        if self._located is None:
            try:
                self._located = _located_yaml().load(self.text)
            except YAMLError:
                # The C and the pure parser disagree on some odd texts ("0\t"); the problem still stands,
                # only its line is unknown.
                self._located = False
        root = self._located
        if root is False:
            return None
        node, line = root, getattr(getattr(root, "lc", None), "line", None)
        for part in loc:
            lc = getattr(node, "lc", None)
            try:
                if isinstance(node, dict) and part in node:
                    line = lc.key(part)[0] if lc is not None else line
                    node = node[part]
                elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                    line = lc.item(part)[0] if lc is not None else line
                    node = node[part]
                else:
                    break
            except (KeyError, TypeError, IndexError):
                break
        return None if line is None else line + 1

    def problem(self, loc: Sequence[Any], message: str) -> Problem:
        return Problem(file=self.name, path=format_path(loc), message=message, line=self.line_of(loc))


def format_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TOO_BIG = f"tệp quá lớn: tối đa {MAX_BYTES // 1024 // 1024} MiB cho một tệp YAML"
_MAX_NODES_TEXT = f"{MAX_NODES:,}".replace(",", ".")  # 50.000, as Vietnamese writes it


def _shape_problem(text: str, name: str) -> Problem | None:
    """What makes ``text`` too costly to build, found from the parser's events before any object exists.

    Every node counts once, and every alias as many nodes as the one it
    repeats (itself counted the same way), so the count is the size of the
    document that loading would hand to the checks that follow.
    """
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for, once its node is complete
    open_: list[list] = []  # collections being read: [anchor, nodes so far]
    total = 0

    def refuse(event, message: str) -> Problem:
        return Problem(file=name, path="", line=event.start_mark.line + 1, message=message)

    try:
        for event in _fast_yaml().parse(text):
            if isinstance(event, CollectionEndEvent):
                anchor, size = open_.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if open_:
                    open_[-1][1] += size
                continue
            if isinstance(event, AliasEvent):
                size = sizes.get(event.anchor)
                if size is None:
                    if any(anchor == event.anchor for anchor, _ in open_):
                        return refuse(event, f"YAML không hợp lệ: bí danh *{event.anchor} nằm trong chính nút "
                                             "mà nó trỏ tới (cấu trúc vòng)")
                    return None  # an undefined alias: the loader names it
            elif isinstance(event, (ScalarEvent, CollectionStartEvent)):
                size = 1
            else:
                continue
            total += size
            if total > MAX_NODES:
                what = (f"bí danh *{event.anchor} lặp lại quá nhiều nút" if isinstance(event, AliasEvent)
                        else "tài liệu có quá nhiều phần tử")
                return refuse(event, f"YAML quá lớn: {what} (tối đa {_MAX_NODES_TEXT} nút, kể cả các nút bí danh lặp lại)")
            if isinstance(event, CollectionStartEvent):
                open_.append([event.anchor, 1])
                if len(open_) > MAX_DEPTH:
                    return refuse(event, f"YAML lồng nhau quá sâu (tối đa {MAX_DEPTH} mức)")
                continue
            if isinstance(event, ScalarEvent) and event.anchor is not None:
                sizes[event.anchor] = 1
            if open_:
                open_[-1][1] += size
    except YAMLError:
        return None  # the loader reports the syntax error with its line
    return None


def parse_text(text: str, name: str) -> tuple[Source | None, list[Problem]]:
    """Parse YAML text; a syntax error, or a document too big or too deep to build, becomes a problem with its line."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None, [Problem(file=name, path="", message=_TOO_BIG)]
    text = unicodedata.normalize("NFC", text.lstrip("\ufeff")).replace("\r\n", "\n")
    shape = _shape_problem(text, name)
    if shape is not None:
        return None, [shape]
    try:
        data = _fast_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"YAML không hợp lệ: {exc.problem or exc.context}"
        return None, [Problem(file=name, path="", message=message, line=line)]
    except YAMLError as exc:
        return None, [Problem(file=name, path="", message=f"YAML không hợp lệ: {exc}")]
    return Source(name, data, text), []


def read_file(path: Path, name: str | None = None) -> tuple[Source | None, list[Problem]]:
    name = name or str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # never more: the path may name a device or a huge file
    except FileNotFoundError:
        return None, [Problem(file=name, path="", message="không tìm thấy tệp")]
    except OSError as exc:
        return None, [Problem(file=name, path="", message=f"không đọc được tệp: {exc.strerror}")]
    if len(raw) > MAX_BYTES:
        return None, [Problem(file=name, path="", message=_TOO_BIG)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(file=name, path="", message="tệp không phải văn bản UTF-8", line=line)]
    return parse_text(text, name)


def validation_problems(source: Source, error: ValidationError, prefix: Sequence[Any] = ()) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [*prefix, *item["loc"]]
        # Pydantic names union branches and validator types in the path; they mean nothing to a coordinator.
        loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        problems.append(source.problem(loc, _message(item)))
    return problems


_MESSAGES = {
    "missing": "thiếu trường bắt buộc",
    "extra_forbidden": "trường không có trong lược đồ",
    "string_type": "phải là một chuỗi văn bản",
    "list_type": "phải là một danh sách",
    "dict_type": "phải là một ánh xạ (khóa: giá trị)",
    "model_type": "phải là một ánh xạ (khóa: giá trị)",
    "model_attributes_type": "phải là một ánh xạ (khóa: giá trị)",
    "int_type": "phải là một số nguyên",
    "int_parsing": "phải là một số nguyên",
    "bool_type": "phải là true hoặc false",
    "bool_parsing": "phải là true hoặc false",
    "string_pattern_mismatch": "không đúng định dạng (chữ thường không dấu, chữ số và dấu gạch ngang)",
    "literal_error": "phải là một trong: {expected}",
    "enum": "phải là một trong: {expected}",
    "greater_than_equal": "phải lớn hơn hoặc bằng {ge}",
    "less_than_equal": "phải nhỏ hơn hoặc bằng {le}",
}


def _message(item: dict[str, Any]) -> str:
    """The Vietnamese message for one pydantic error; coordinators read these."""
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind].format(**{k: str(v) for k, v in ctx.items()})
    if kind == "too_short":
        return "không được để trống" if ctx.get("min_length", 1) <= 1 else f"cần ít nhất {ctx['min_length']} phần tử"
    if kind in ("string_too_long", "too_long"):
        return f"quá dài (tối đa {ctx.get('max_length')})"
    if kind == "string_too_short":
        return "không được để trống"
    message = item["msg"]
    if "email" in message:
        return "địa chỉ thư điện tử không hợp lệ"
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
