"""Load and validate registries and directives, reporting every problem with its place."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.definition.definition import DirectiveDef, RegistryDef, _iso_date
from models.errors import DefinitionError, Problem
from models.paths import inside
from models.definition.placeholders import find_placeholders
from models.textcheck import shown
from models.definition.yamlsource import Source, parse_text, read_file, validation_problems


@dataclass(frozen=True)
class Loaded:
    """A validated directive together with the registry it names."""

    directive: DirectiveDef
    registry: RegistryDef
    source: str
    registry_source: str


def load_registry(path: Path, name: str | None = None) -> RegistryDef:
    source, problems = read_file(path, name)
    registry, more = _validate_registry(source) if source else (None, [])
    problems += more
    if problems or registry is None:
        raise DefinitionError(problems)
    return registry


def load_directive_file(path: Path, *, name: str | None = None, within: Path | None = None) -> Loaded:
    """Load a directive file and the registry it names; with ``within``, that registry must lie in that folder."""
    source, problems = read_file(path, name)
    return _load_directive(source, problems, base_dir=path.parent, display_dir=Path(name or str(path)).parent,
                           within=within)


def load_directive_text(text: str, *, name: str, base_dir: Path, within: Path | None = None) -> Loaded:
    """Load a directive pasted as text; its ``registry`` path is relative to ``base_dir`` (and confined to ``within``)."""
    source, problems = parse_text(text, name)
    return _load_directive(source, problems, base_dir=base_dir, display_dir=base_dir, within=within)


def _load_directive(source: Source | None, problems: list[Problem], *, base_dir: Path, display_dir: Path,
                    within: Path | None = None) -> Loaded:
    if source is None:
        raise DefinitionError(problems)
    data = source.data
    if not isinstance(data, dict):
        raise DefinitionError([source.problem([], "văn bản chỉ đạo phải là một ánh xạ các trường (number, issued_on, assignments, …)")])

    directive: DirectiveDef | None = None
    try:
        directive = DirectiveDef.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(source, exc)

    registry: RegistryDef | None = None
    registry_name = ""
    ref = data.get("registry")
    if isinstance(ref, str) and ref.strip():
        registry_path = base_dir / ref.strip()
        registry_name = str(display_dir / ref.strip())
        if within is not None and not inside(within, registry_path):
            # Checked before the file is opened: a form's YAML must not make the worker read /etc/… and quote it back.
            problems.append(source.problem(["registry"], f"tệp danh mục cơ quan {shown(ref.strip())!r} nằm ngoài "
                                                         f"thư mục văn bản {within}; chỉ dùng được tệp trong thư mục này"))
        elif not registry_path.is_file():
            problems.append(source.problem(["registry"], f"không tìm thấy tệp danh mục cơ quan {registry_name}"))
        else:
            registry, more = _registry(registry_path, registry_name)
            problems += more

    codes = {a.code for a in registry.agencies} if registry else None
    problems = _with_placeholders(source, problems + _directive_rules(source, data, codes))
    if problems or directive is None or registry is None:
        raise DefinitionError(problems)
    return Loaded(directive=directive, registry=registry, source=source.name, registry_source=registry_name)


_registries: dict[tuple, tuple[RegistryDef | None, list[Problem]]] = {}


def _registry(path: Path, name: str) -> tuple[RegistryDef | None, list[Problem]]:
    """A registry file, read once per version: launching a thousand directives reads it once."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, name)
    if key not in _registries:
        source, problems = read_file(path, name)
        registry, more = _validate_registry(source) if source is not None else (None, [])
        if len(_registries) > 64:
            _registries.clear()
        _registries[key] = (registry, problems + more)
    registry, problems = _registries[key]
    return registry, list(problems)


def _validate_registry(source: Source) -> tuple[RegistryDef | None, list[Problem]]:
    data = source.data
    if not isinstance(data, dict):
        return None, [source.problem([], "danh mục cơ quan phải là một ánh xạ gồm registry, title và agencies")]
    problems: list[Problem] = []
    registry = None
    try:
        registry = RegistryDef.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(source, exc)
    agencies = data.get("agencies")
    codes: set[str] = set()
    if isinstance(agencies, list):
        for i, agency in enumerate(agencies):
            code = agency.get("code") if isinstance(agency, dict) else None
            if isinstance(code, str):
                if code in codes:
                    problems.append(source.problem(["agencies", i, "code"], f"mã cơ quan {code!r} bị trùng"))
                codes.add(code)
    office = data.get("provincial_office")
    if isinstance(office, str) and codes and office not in codes:
        problems.append(source.problem(["provincial_office"], f"mã cơ quan {office!r} không có trong danh mục"))
    problems = _with_placeholders(source, problems)
    return (registry if not problems else None), problems


def _with_placeholders(source: Source, problems: list[Problem]) -> list[Problem]:
    """Each unfilled ``<TODO: …>`` as a problem of its own, instead of what its value breaks there.

    A placeholder due date is also "not a date", and a placeholder agency "not in the registry";
    the coordinator needs to hear only that it is still to be filled.
    """
    todo = [source.problem(loc, f"chưa điền: {text} (thay bằng giá trị thật)") for loc, text in find_placeholders(source.data)]
    if not todo:
        return problems
    covered = {p.path for p in todo}
    rest = [p for p in problems if not any(_within(p.path, path) for path in covered)]
    return rest + todo


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _directive_rules(source: Source, data: dict[str, Any], codes: set[str] | None) -> list[Problem]:
    """Rules that span fields: codes, dates, keys and dependencies."""
    problems: list[Problem] = []

    def check_code(loc: list[Any], value: Any) -> None:
        if codes is not None and isinstance(value, str) and value not in codes:
            problems.append(source.problem(loc, f"mã cơ quan {value!r} không có trong danh mục"))

    check_code(["issuer"], data.get("issuer"))
    for i, code in enumerate(_list(data.get("report_to"))):
        check_code(["report_to", i], code)

    issued_on = _maybe_date(data.get("issued_on"))
    items = [(i, a) for i, a in enumerate(_list(data.get("assignments"))) if isinstance(a, dict)]
    keys: dict[str, int] = {}
    for i, item in items:
        key = item.get("key")
        if isinstance(key, str):
            if key in keys:
                problems.append(source.problem(["assignments", i, "key"], f"khóa nhiệm vụ {key!r} bị trùng (đã dùng ở assignments[{keys[key]}])"))
            else:
                keys[key] = i
        seen: set[str] = set()
        for role in ("leads", "supporting"):
            for j, code in enumerate(_list(item.get(role))):
                check_code(["assignments", i, role, j], code)
                if isinstance(code, str):
                    if code in seen:
                        problems.append(source.problem(["assignments", i, role, j], f"cơ quan {code!r} được nêu hai lần"))
                    seen.add(code)
        if "every" in item:
            problems += _recurring_rules(source, i, item, issued_on)
        elif ("due" in item) == ("due_in" in item):
            problems.append(source.problem(["assignments", i, "due_in"] if "due_in" in item else ["assignments", i],
                                           "cần đúng một trong hai: due (ngày) hoặc due_in (số ngày làm việc sau khi bắt đầu)"))
        else:
            for name in ("report_day", "until", "window"):
                if name in item:
                    problems.append(source.problem(["assignments", i, name],
                                                   f"{name} chỉ dùng cho nhiệm vụ báo cáo định kỳ (cần every)"))
        due = _maybe_date(item.get("due"))
        if due and issued_on and due < issued_on:
            problems.append(
                source.problem(["assignments", i, "due"], f"thời hạn {due:%d/%m/%Y} sớm hơn ngày ban hành {issued_on:%d/%m/%Y}")
            )

    for field, words in (("depends_on", _DEPENDS_ON), ("after", _AFTER)):
        problems += _links(source, items, keys, field, words)
    recurring = {item.get("key") for _, item in items if "every" in item and isinstance(item.get("key"), str)}
    for i, item in items:
        for field in ("depends_on", "after"):
            for j, dep in enumerate(_list(item.get(field))):
                if dep in recurring:
                    problems.append(source.problem(["assignments", i, field, j],
                                                   f"{dep!r} là báo cáo định kỳ, không bao giờ kết thúc hẳn; "
                                                   f"không thể {'phụ thuộc vào' if field == 'depends_on' else 'chờ'} nó"))

    seen_rungs: dict[str, int] = {}
    for i, rung in enumerate(_list(data.get("ladder"))):
        name = rung.get("rung") if isinstance(rung, dict) else None
        if isinstance(name, str):
            if name in seen_rungs:
                problems.append(source.problem(["ladder", i, "rung"], f"bậc {name!r} đã có ở ladder[{seen_rungs[name]}]"))
            seen_rungs.setdefault(name, i)

    milestone = data.get("milestone")
    if isinstance(milestone, str) and keys and milestone not in keys:
        problems.append(source.problem(["milestone"], f"mốc hoàn thành {milestone!r} không phải là khóa của nhiệm vụ nào"))
    elif isinstance(milestone, str) and milestone in recurring:
        problems.append(source.problem(["milestone"], f"mốc hoàn thành {milestone!r} là báo cáo định kỳ; "
                                                      "mốc phải là một nhiệm vụ có một thời hạn"))
    return problems


# How each kind of link between assignments is refused: itself, an unknown key, a cycle.
_DEPENDS_ON = ("nhiệm vụ không thể phụ thuộc vào chính nó", "phụ thuộc vào nhiệm vụ không tồn tại", "phụ thuộc vòng tròn")
_AFTER = ("nhiệm vụ không thể chờ chính nó (after)", "chờ nhiệm vụ không tồn tại (after)", "các bước chờ nhau vòng tròn (after)")


def _links(source: Source, items: list[tuple[int, dict]], keys: dict[str, int], field: str,
           words: tuple[str, str, str]) -> list[Problem]:
    """The keys one field lists (depends_on, after): each must name another assignment, and no chain may close on itself."""
    itself, unknown, circular = words
    problems: list[Problem] = []
    graph: dict[str, list[str]] = {}
    for i, item in items:
        key = item.get("key")
        for j, dep in enumerate(_list(item.get(field))):
            if not isinstance(dep, str):
                continue
            if dep == key:
                problems.append(source.problem(["assignments", i, field, j], itself))
            elif dep not in keys:
                problems.append(source.problem(["assignments", i, field, j], f"{unknown} {dep!r}"))
        if isinstance(key, str):
            graph[key] = [d for d in _list(item.get(field)) if isinstance(d, str) and d in keys and d != key]
    for cycle in _cycles(graph):
        problems.append(source.problem(["assignments", keys[cycle[0]], field], f"{circular}: " + " → ".join([*cycle, cycle[0]])))
    return problems


def _cycles(graph: dict[str, list[str]]) -> Iterable[list[str]]:
    """Each dependency cycle once, by an iterative depth-first search (a long chain must not overflow the stack)."""
    state: dict[str, int] = {}
    found: list[list[str]] = []
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        path, iterators = [root], [iter(graph.get(root, []))]
        while iterators:
            nxt = next(iterators[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iterators.pop()
            elif state.get(nxt) == 1:
                found.append(path[path.index(nxt):])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iterators.append(iter(graph.get(nxt, [])))
    return found


def _recurring_rules(source: Source, i: int, item: dict[str, Any], issued_on: date | None) -> list[Problem]:
    """A recurring report: no single due date, a report day, an end not before the directive, and the first
    period's due date at least one working day after its data window (Decree 09/2019/NĐ-CP, Art. 8.5)."""
    from models.calendar.periods import CITATION, EVERY, first_due_after, too_early

    problems: list[Problem] = []
    for name in ("due", "due_in"):
        if name in item:
            problems.append(source.problem(["assignments", i, name], f"báo cáo định kỳ (every) không có {name}: "
                                           "thời hạn của từng kỳ tính theo report_day"))
    if "report_day" not in item:
        problems.append(source.problem(["assignments", i], "báo cáo định kỳ cần report_day: ngày trong tháng phải nộp báo cáo (1–28)"))
    until = _maybe_date(item.get("until"))
    if until and issued_on and until < issued_on:
        problems.append(source.problem(["assignments", i, "until"],
                                       f"until {until:%d/%m/%Y} sớm hơn ngày ban hành {issued_on:%d/%m/%Y}"))
    every, day, window = item.get("every"), item.get("report_day"), item.get("window", "nd09")
    if (every in EVERY and isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 28
            and window in ("nd09", "calendar") and issued_on):
        calendar = _default_calendar()
        first = first_due_after(every, issued_on, report_day=day, window=window, calendar=calendar)
        earliest = too_early(first, calendar)
        if earliest is not None:
            problems.append(source.problem(["assignments", i, "report_day"],
                f"hạn báo cáo kỳ {first.name} ({first.due:%d/%m/%Y}) phải sau ngày chốt số liệu "
                f"{first.window_to:%d/%m/%Y} ít nhất một ngày làm việc, tức từ {earliest:%d/%m/%Y} ({CITATION})"))
    return problems


@functools.cache
def _default_calendar() -> Any:
    """One calendar for every check, so its holiday table is built once (about 0.7 ms a recurring report otherwise)."""
    from models.calendar.workdays import WorkCalendar

    return WorkCalendar()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _maybe_date(value: Any) -> date | None:
    try:
        return _iso_date(value)
    except ValueError:
        return None
