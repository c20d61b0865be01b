"""Directive and registry definitions: the seed loads; every kind of mistake is refused with its place."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from models.errors import DefinitionError
from models.definition.loader import load_directive_file, load_directive_text, load_registry
from tests.conftest import FIXTURES, REGISTRY, SEED

MINIMAL = """\
number: 12/KH-UBND
issued_on: 2021-03-01
issuer: ubnd
subject: Thử nghiệm
place: Long An
registry: agencies/long-an.yaml
assignments:
  - key: first
    title: Việc thứ nhất
    action: Làm việc thứ nhất.
    leads: [sxd]
    due: 2021-03-31
"""


def load(text: str, base: Path):
    return load_directive_text(textwrap.dedent(text), name="test.yaml", base_dir=base)


def problems(text: str, base: Path) -> list:
    with pytest.raises(DefinitionError) as info:
        load(text, base)
    return info.value.problems


def test_seed_loads_with_its_five_assignments_and_milestone():
    loaded = load_directive_file(SEED)
    d = loaded.directive
    assert d.number == "2550/STTTT-BCTT" and d.issued_on == date(2020, 11, 30) and d.issuer == "stttt"
    assert [a.key for a in d.assignments] == [
        "network-transition", "permit-review", "land-use-conversion", "industrial-park-access", "annual-plan"]
    by_key = {a.key: a for a in d.assignments}
    assert by_key["industrial-park-access"].leads == ["sct", "bqlkkt"]
    assert by_key["annual-plan"].due == date(2021, 1, 29)
    assert by_key["annual-plan"].depends_on == ["permit-review", "land-use-conversion", "industrial-park-access"]
    assert {a.due for k, a in by_key.items() if k != "annual-plan"} == {date(2020, 12, 31)}
    assert d.milestone == "annual-plan"


def test_seed_actions_quote_the_letter():
    letter = FIXTURES / "letters" / "2550-STTTT-BCTT.txt"  # a copy of ../shared/seed/2550-STTTT-BCTT.txt
    text = " ".join(letter.read_text(encoding="utf-8").split())
    for item in load_directive_file(SEED).directive.assignments:
        first_sentence = item.action.split(";")[0].split(". ")[0]
        assert " ".join(first_sentence.split()) in text, item.key


def test_registry_has_every_agency_with_placeholder_addresses():
    registry = load_registry(REGISTRY)
    codes = {a.code for a in registry.agencies}
    assert {"ubnd", "vp-ubnd", "stttt", "sxd", "stnmt", "sct", "bqlkkt", "cuc-vt", "viettel", "vnpt"} <= codes
    for agency in registry.agencies:
        assert str(agency.email).endswith("example.com") and str(agency.head.email).endswith("example.com")
        assert agency.name and agency.head.title


def test_minimal_directive_loads(workspace):
    assert load(MINIMAL, workspace).directive.assignments[0].key == "first"


@pytest.mark.parametrize(
    ("change", "path", "line", "words"),
    [
        (("leads: [sxd]", "leads: [sxd, nobody]"), "assignments[0].leads[1]", 11, "nobody"),
        (("due: 2021-03-31", "due: 2021-02-30"), "assignments[0].due", 12, "ngày hợp lệ"),
        (("due: 2021-03-31", "due: 2021-02-01"), "assignments[0].due", 12, "sớm hơn ngày ban hành"),
        (("    due: 2021-03-31\n", "    due: 2021-03-31\n    colour: red\n"), "assignments[0].colour", 13, "không có trong lược đồ"),
        (("subject: Thử nghiệm\n", ""), "subject", None, "thiếu trường bắt buộc"),
        (("    due: 2021-03-31\n", "    due: 2021-03-31\n    depends_on: [ghost]\n"), "assignments[0].depends_on[0]", 13, "ghost"),
        (("issuer: ubnd", "issuer: 42"), "issuer", 3, "chuỗi"),
    ],
)
def test_each_mistake_is_named_with_path_and_line(workspace, change, path, line, words):
    old, new = change
    assert old in MINIMAL
    found = problems(MINIMAL.replace(old, new), workspace)
    assert len(found) == 1, found
    assert found[0].file == "test.yaml"
    assert found[0].path == path
    if line is not None:
        assert found[0].line == line
    assert words in found[0].message


def test_bad_yaml_names_its_line(workspace):
    found = problems(MINIMAL.replace("place: Long An", "place: [Long An"), workspace)
    assert found[0].line is not None and "YAML" in found[0].message


def test_duplicate_mapping_key_is_bad_yaml(workspace):
    found = problems(MINIMAL.replace("place: Long An", "place: Long An\nplace: Tây Ninh"), workspace)
    assert "YAML" in found[0].message and found[0].line == 6


def test_duplicate_key_cycle_and_bad_mail_are_all_reported_together(workspace):
    registry = (workspace / "agencies" / "long-an.yaml")
    registry.write_text(registry.read_text(encoding="utf-8").replace("sxd@longan.example.com", "sxd-at-longan"), encoding="utf-8")
    extra = [("first", "[]"), ("a", "[b]"), ("b", "[a]")]
    text = MINIMAL + "".join(
        f"  - key: {key}\n    title: T\n    action: x\n    leads: [sxd]\n    due: 2021-03-31\n    depends_on: {deps}\n"
        for key, deps in extra
    )
    found = problems(text, workspace)
    messages = [str(p) for p in found]
    assert any("first" in m and "trùng" in m for m in messages), messages
    assert any("vòng tròn" in m and "a → b → a" in m for m in messages), messages
    assert any(p.file.endswith("long-an.yaml") and p.path.endswith(".email") and p.line for p in found), messages


def test_unknown_kind_and_milestone(workspace):
    text = MINIMAL.replace("    leads: [sxd]", "    kind: bridge_building\n    leads: [sxd]") + "milestone: nothing\n"
    found = problems(text, workspace)
    assert {p.path for p in found} == {"assignments[0].kind", "milestone"}


def test_missing_registry_file_is_named(workspace):
    found = problems(MINIMAL.replace("agencies/long-an.yaml", "agencies/nowhere.yaml"), workspace)
    assert found[0].path == "registry" and "nowhere.yaml" in found[0].message


def test_non_mapping_document_is_refused(workspace):
    assert "ánh xạ" in problems("- just\n- a list\n", workspace)[0].message


def test_error_text_names_file_line_and_field(workspace):
    found = problems(MINIMAL.replace("leads: [sxd]", "leads: [nobody]"), workspace)
    assert str(found[0]).startswith("test.yaml:11: assignments[0].leads[0]:")


def test_ladder_is_validated_like_the_rest(workspace):
    text = MINIMAL + textwrap.dedent("""\
        ladder:
          - {rung: notice, offset: launch, to: [leads]}
          - {rung: reminder, offset: -3, to: [leads], cc: [everyone]}
          - {rung: reminder, offset: -1, to: [leads]}
          - {rung: report-up, offset: launch, repeat: 5, to: [provincial-office]}
    """)
    found = problems(text, workspace)
    paths = {p.path: p for p in found}
    assert set(paths) == {"ladder[1].cc[0]", "ladder[2].rung", "ladder[3]"}
    assert paths["ladder[2].rung"].line == 16 and "đã có" in paths["ladder[2].rung"].message


def test_custom_ladder_loads(workspace):
    text = MINIMAL + "ladder:\n  - {rung: notice, offset: launch, to: [leads], cc: [director]}\n  - {rung: overdue, offset: 2, repeat: 3, to: [lead-heads]}\n"
    ladder = load(text, workspace).directive.ladder
    assert [(r.rung, r.offset, r.repeat) for r in ladder] == [("notice", "launch", None), ("overdue", 2, 3)]


# --- Text in definitions: one-line fields, free texts and the số, ký hiệu --------------------------------------

def test_a_number_with_a_line_break_is_refused_with_file_field_and_line(workspace):
    found = problems(MINIMAL.replace("number: 12/KH-UBND", 'number: "12/KH-UBND\\r\\nBcc: x@example.com"'), workspace)
    assert [(p.file, p.path, p.line) for p in found] == [("test.yaml", "number", 1)]
    assert "U+000D" in found[0].message


@pytest.mark.parametrize("number", ["12 / KH-UBND", "KH-UBND", "12/KH_UBND", "12/KH--UBND", "12/KH\u200bUBND", "'12/KH\u202eUBND'"])
def test_a_number_must_look_like_a_so_ky_hieu(workspace, number):
    found = problems(MINIMAL.replace("number: 12/KH-UBND", f"number: {number}"), workspace)
    assert [(p.path, p.line) for p in found] == [("number", 1)]


@pytest.mark.parametrize("number", ["12/KH-UBND", "15/2020/NĐ-CP", "123/QĐ-UBND", "7/ĐHVT"])
def test_real_numbers_load(workspace, number):
    assert load(MINIMAL.replace("number: 12/KH-UBND", f"number: {number}"), workspace).directive.number == number


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "code"),
    [
        ("subject: Thử nghiệm", "subject: Thử\u200bnghiệm", "subject", 4, "U+200B"),
        ("place: Long An", 'place: "Long An\\0"', "place", 5, "U+0000"),
        ("place: Long An", 'place: "Long\\nAn"', "place", 5, "U+000A"),
        ("title: Việc thứ nhất", "title: Việc \u202ethứ nhất", "assignments[0].title", 9, "U+202E"),
        ("action: Làm việc thứ nhất.", 'action: "Làm \\e[31mviệc"', "assignments[0].action", 10, "U+001B"),
        ("action: Làm việc thứ nhất.", 'action: "Làm\\x85việc"', "assignments[0].action", 10, "U+0085"),
        ("action: Làm việc thứ nhất.", "action: Làm \u2066việc", "assignments[0].action", 10, "U+2066"),
        # At either end too: Python strips these as whitespace, and they must be refused, not dropped.
        ("subject: Thử nghiệm", 'subject: "Thử nghiệm\\x1f"', "subject", 4, "U+001F"),
        ("action: Làm việc thứ nhất.", 'action: "\\x85Làm việc"', "assignments[0].action", 10, "U+0085"),
        ("number: 12/KH-UBND", 'number: "12/KH-UBND\\x1c"', "number", 1, "U+001C"),
    ],
)
def test_names_and_texts_refuse_control_and_invisible_characters(workspace, old, new, path, line, code):
    found = problems(MINIMAL.replace(old, new), workspace)
    assert [(p.file, p.path, p.line) for p in found] == [("test.yaml", path, line)]
    assert code in found[0].message and str(found[0]).startswith(f"test.yaml:{line}: {path}: chứa")


def test_an_action_keeps_its_line_breaks_and_tabs(workspace):
    text = MINIMAL.replace("action: Làm việc thứ nhất.", 'action: "Dòng một;\\r\\n\\tdòng hai."')
    assert load(text, workspace).directive.assignments[0].action == "Dòng một;\n\tdòng hai."


def test_signature_and_report_fields_are_checked_too(workspace):
    text = MINIMAL + ('signature: {title: "PHÓ\\tGIÁM ĐỐC", name: Hồ Văn Dân}\n'
                      'report: {copies: ["Lưu\\u200b: VT"], difficulties: ["Chưa có\\u202e kinh phí"]}\n')
    assert {p.path for p in problems(text, workspace)} == {"signature.title", "report.copies[0]", "report.difficulties[0]"}


def test_a_registry_refuses_bad_characters_in_names_with_file_and_line(workspace):
    registry = workspace / "agencies" / "long-an.yaml"
    lines = registry.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("name:"))
    lines[at] = lines[at].replace("name: ", "name: \u202e", 1)
    registry.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_registry(registry)
    [found] = info.value.problems
    assert found.file == str(registry) and found.line == at + 1 and found.path.endswith(".name")
    assert "U+202E" in found.message


# --- What the YAML reader refuses before building anything -------------------------------------------------------

def bomb(levels: int = 9, width: int = 10) -> str:
    """The "billion laughs": each anchor repeats the one before ``width`` times."""
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(rows) + f"\nnumber: *a{levels}\n"


def test_an_alias_bomb_is_refused_naming_the_file_and_line(workspace):
    [found] = problems(bomb(), workspace)
    assert (found.file, found.line) == ("test.yaml", 5) and "bí danh *a3" in found.message
    path = workspace / "bomb.yaml"
    path.write_text(bomb(), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_directive_file(path)
    assert [str(p) for p in info.value.problems] == [f"{path}:5: {found.message}"]


def test_an_alias_bomb_in_a_registry_or_a_responses_file_is_refused(workspace):
    from models.lifecycle.responses import load_responses

    path = workspace / "agencies" / "bomb.yaml"
    path.write_text(bomb(), encoding="utf-8")
    with pytest.raises(DefinitionError, match="bí danh"):
        load_registry(path)
    with pytest.raises(DefinitionError, match="bí danh") as info:
        load_responses(path, keys={"first"}, start=date(2021, 3, 1), until=date(2021, 3, 31))
    assert info.value.problems[0].file == str(path) and info.value.problems[0].line == 5


def test_a_self_referring_alias_is_refused(workspace):
    [found] = problems(MINIMAL + "extra: &loop [1, *loop]\n", workspace)
    assert found.line == 13 and "cấu trúc vòng" in found.message


def test_a_few_aliases_still_load(workspace):
    text = MINIMAL.replace("    leads: [sxd]", "    leads: &leads [sxd]") + (
        "  - {key: second, title: Việc hai, action: Làm., leads: *leads, due: 2021-03-31}\n")
    assert [a.leads for a in load(text, workspace).directive.assignments] == [["sxd"], ["sxd"]]


def test_five_thousand_nested_brackets_are_refused_naming_the_file(workspace):
    path = workspace / "deep.yaml"
    path.write_text("number: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_directive_file(path)
    [found] = info.value.problems
    assert (found.file, found.line) == (str(path), 1) and "lồng nhau quá sâu" in found.message


def test_an_oversized_file_or_pasted_text_is_refused_unread(workspace):
    from models.definition.yamlsource import MAX_BYTES

    path = workspace / "huge.yaml"
    path.write_text(MINIMAL + "#" * MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_directive_file(path)
    assert [(p.file, p.message) for p in info.value.problems] == [(str(path), "tệp quá lớn: tối đa 1 MiB cho một tệp YAML")]
    assert "quá lớn" in problems(MINIMAL + "#" * MAX_BYTES, workspace)[0].message


def test_a_document_of_too_many_nodes_is_refused_with_its_line(workspace):
    text = MINIMAL + "extra:\n" + "".join(f"  - {i}\n" for i in range(60_000))
    [found] = problems(text, workspace)
    assert found.line is not None and found.line > 13 and "quá nhiều phần tử" in found.message
