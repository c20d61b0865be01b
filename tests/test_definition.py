"""Directive and registry definitions: the seed loads; every kind of mistake is refused with its place."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from models.errors import DefinitionError
from models.loader import load_directive_file, load_directive_text, load_registry
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
