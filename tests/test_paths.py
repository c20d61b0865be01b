"""What a Run form may name: files in the directives folder to read, files in the reports folder to write."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from models.errors import DefinitionError, InputError
from models.definition.loader import load_directive_file, load_directive_text
from models.paths import confined, directive_file, inside, report_name
from tests.conftest import SEED


def refusal(root: Path, name: str) -> str:
    with pytest.raises(InputError) as info:
        confined(root, name, field="output", folder="thư mục báo cáo")
    return str(info.value)


def test_a_relative_name_is_taken_under_the_folder(tmp_path):
    root = tmp_path / "reports"
    assert confined(root, "bao-cao.docx", field="output", folder="thư mục báo cáo") == (root / "bao-cao.docx").resolve()
    assert confined(root, " 2021/01/bao-cao.md ", field="output", folder="x") == (root / "2021/01/bao-cao.md").resolve()
    assert confined(root, "a/../b.md", field="output", folder="x") == (root / "b.md").resolve()  # stays inside
    assert confined(root, str(root / "c.md"), field="output", folder="x") == (root / "c.md").resolve()  # absolute, inside


@pytest.mark.parametrize("name", ["../secret.key", "../../etc/cron.d/x", "/etc/passwd", "/tmp/x.docx", "a/../../x", ".", ""])
def test_whatever_leaves_the_folder_is_refused_with_one_vietnamese_line(tmp_path, name):
    message = refusal(tmp_path / "reports", name)
    assert message.startswith("output: ") and "\n" not in message
    assert ("nằm ngoài thư mục báo cáo" in message) or ("chưa nhập tên tệp" in message)


def test_a_symlink_out_of_the_folder_is_followed_and_refused(tmp_path):
    root, outside = tmp_path / "reports", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file.md").symlink_to(tmp_path / "victim.md")
    assert "nằm ngoài" in refusal(root, "link/x.md")
    assert "nằm ngoài" in refusal(root, "file.md")
    assert not inside(root, root / "link" / "x.md") and inside(root, root / "sub" / "x.md")


def test_control_characters_in_a_name_are_refused_before_any_file_is_touched(tmp_path):
    assert "ký tự điều khiển" in refusal(tmp_path, "x\x00.md")
    assert "ký tự điều khiển" in refusal(tmp_path, "x\n.md")
    assert "ký tự ẩn" in refusal(tmp_path, "x\u202e.md")
    assert not inside(tmp_path, tmp_path / "x\x00")


def test_a_definition_is_named_in_the_folder_or_from_the_checkout(workspace, monkeypatch):
    monkeypatch.chdir(workspace.parent)
    wanted = (workspace / SEED.name).resolve()
    assert directive_file(workspace, SEED.name) == wanted
    assert directive_file(workspace, f"directives/{SEED.name}") == wanted  # as docs/scaling.md types it
    assert directive_file(workspace, str(wanted)) == wanted
    (workspace.parent / "outside.yaml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (workspace / "sneaky.yaml").symlink_to(workspace.parent / "outside.yaml")
    # A bare name means the folder's file, never the working directory's one of that name.
    assert directive_file(workspace, "outside.yaml") == (workspace / "outside.yaml").resolve()
    for name in ("../outside.yaml", str(workspace.parent / "outside.yaml"), "sneaky.yaml", "/etc/passwd"):
        with pytest.raises(InputError, match="^path: .*nằm ngoài thư mục văn bản"):
            directive_file(workspace, name)


def test_a_confined_launch_refuses_a_registry_outside_the_folder_without_opening_it(workspace, tmp_path):
    text = SEED.read_text(encoding="utf-8")
    (tmp_path / "stolen.yaml").write_text((workspace / "agencies" / "long-an.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    for ref in ("../stolen.yaml", str(tmp_path / "stolen.yaml"), "/etc/passwd"):
        pasted = text.replace("registry: agencies/long-an.yaml", f"registry: {ref}")
        assert pasted != text
        with pytest.raises(DefinitionError) as info:
            load_directive_text(pasted, name="<pasted>", base_dir=workspace, within=workspace)
        [problem] = [p for p in info.value.problems if p.path == "registry"]
        assert problem.file == "<pasted>" and problem.line and "nằm ngoài thư mục văn bản" in problem.message
        assert "root:" not in str(info.value)  # nothing of /etc/passwd is quoted back

    # The same file outside, on the command line (not confined), loads: the coordinator owns the machine's files.
    (tmp_path / "mine.yaml").write_text(text.replace("registry: agencies/long-an.yaml", "registry: ../stolen.yaml"),
                                        encoding="utf-8")
    os.makedirs(tmp_path / "sub", exist_ok=True)
    moved = tmp_path / "sub" / "mine.yaml"
    (tmp_path / "mine.yaml").rename(moved)
    assert load_directive_file(moved).directive.number == "2550/STTTT-BCTT"
    with pytest.raises(DefinitionError, match="registry: tệp danh mục cơ quan '../stolen.yaml' nằm ngoài"):
        load_directive_file(moved, within=tmp_path / "sub")
    assert load_directive_file(workspace / SEED.name, within=workspace).directive.number == "2550/STTTT-BCTT"


def test_the_default_report_name():
    assert report_name("2550-stttt-bctt", "docx", date(2021, 1, 20)) == "bao-cao-2550-stttt-bctt-20210120.docx"
