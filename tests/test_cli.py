"""The CLI through Typer's runner, with flows running on the session's Prefect test server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.testing import write_directives
from models.store.db import transaction
from models.store.tables import Directive
from tests.conftest import SEED

runner = CliRunner()
SLUG = "2550-stttt-bctt"


def dondoc(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def status_json(now: str) -> dict:
    result = dondoc("status", SLUG, "--json", "--now", now)
    assert result.exit_code == 0, result.output
    return {row["key"]: row for row in json.loads(result.stdout)}


@pytest.fixture
def launched(database, prefect_server):
    result = dondoc("launch", str(SEED), "--now", "2020-11-30T09:00+07:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == SLUG
    return SLUG


def test_status_json_shows_the_five_assignments(launched):
    rows = status_json("2021-01-05T09:00+07:00")
    assert list(rows) == ["network-transition", "permit-review", "land-use-conversion", "industrial-park-access", "annual-plan"]
    for key in ("key", "title", "leads", "supporting", "due", "status", "overdue_working_days", "done_on", "evidence"):
        assert key in rows["permit-review"]
    assert rows["permit-review"]["overdue_working_days"] == 2
    assert rows["permit-review"]["due"] == "2020-12-31" and rows["permit-review"]["leads"] == ["sxd"]
    assert rows["industrial-park-access"]["leads"] == ["sct", "bqlkkt"]
    assert rows["industrial-park-access"]["supporting"] == ["kcn-investors"]
    assert rows["annual-plan"]["due"] == "2021-01-29" and rows["annual-plan"]["overdue_working_days"] == -18


def test_status_table_is_readable(launched):
    result = dondoc("status", SLUG, "--now", "2021-01-05T09:00+07:00")
    assert result.exit_code == 0
    assert "2550/STTTT-BCTT" in result.stdout and "permit-review" in result.stdout and "Quá hạn" in result.stdout


def test_record_done_with_evidence_then_milestone_closes(launched):
    result = dondoc("record", f"{SLUG}/permit-review", "--status", "done", "--evidence", "15/SXD-QLXD",
                    "--now", "2020-12-28T10:00+07:00", "--by", "sxd")
    assert result.exit_code == 0, result.output
    rows = status_json("2021-01-05T09:00+07:00")
    assert rows["permit-review"]["status"] == "done"
    assert rows["permit-review"]["evidence"] == "15/SXD-QLXD" and rows["permit-review"]["done_on"] == "2020-12-28"

    result = dondoc("record", f"{SLUG}/annual-plan", "--status", "done", "--evidence", "01/KH-STTTT",
                    "--now", "2021-01-28T15:00+07:00")
    assert result.exit_code == 0, result.output
    assert "land-use-conversion" in result.stderr and "industrial-park-access" in result.stderr
    assert "permit-review" not in result.stderr.split("chưa xong")[1].split("\n")[0]
    rows = status_json("2021-02-01T09:00+07:00")
    assert rows["annual-plan"]["status"] == "done"
    assert rows["land-use-conversion"]["status"] == "cancelled"
    with transaction() as session:
        assert session.exec(select(Directive)).one().status == "closed"

    events = json.loads(dondoc("events", SLUG, "--json").stdout)
    assert events[-1]["kind"] == "closed"
    assert [e["kind"] for e in json.loads(dondoc("events", f"{SLUG}/permit-review", "--json").stdout)] == ["created", "status", ]


def test_illegal_transition_is_one_line_and_exit_2(launched):
    dondoc("record", f"{SLUG}/permit-review", "--status", "done", "--now", "2020-12-28T10:00+07:00")
    result = dondoc("record", f"{SLUG}/permit-review", "--status", "in_progress", "--now", "2020-12-29T10:00+07:00")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Lỗi:") and len(result.stderr.strip().splitlines()) == 1


def test_launch_twice_is_refused(launched):
    result = dondoc("launch", str(SEED), "--now", "2020-12-01T09:00+07:00")
    assert result.exit_code == 2 and "đã được khởi tạo" in result.stderr


def test_extend_moves_due_date(launched):
    result = dondoc("extend", f"{SLUG}/land-use-conversion", "--until", "2021-01-15", "--reason", "Chờ hướng dẫn của Bộ",
                    "--now", "2020-12-29T09:00+07:00")
    assert result.exit_code == 0, result.output
    rows = status_json("2021-01-05T09:00+07:00")
    assert rows["land-use-conversion"]["due"] == "2021-01-15" and rows["land-use-conversion"]["overdue_working_days"] == -8


def test_bad_definition_exits_2_names_every_problem_and_writes_nothing(database, workspace):
    bad = workspace / "bad.yaml"
    text = SEED.read_text(encoding="utf-8").replace("leads: [sxd]", "leads: [sxdd]").replace("due: 2021-01-29", "due: 2021-13-01")
    bad.write_text(text, encoding="utf-8")
    result = dondoc("launch", str(bad))
    assert result.exit_code == 2
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert len(lines) == 2
    assert all(line.startswith(f"{bad}:") for line in lines)
    assert any("assignments[1].leads[0]" in line and "sxdd" in line for line in lines)
    assert any("assignments[4].due" in line for line in lines)
    with transaction() as session:
        assert session.exec(select(Directive)).all() == []


def test_unknown_slug_and_bad_now(database):
    assert dondoc("status", "nothing-here").exit_code == 1
    result = dondoc("status", "--now", "tomorrow")
    assert result.exit_code == 2 and "--now" in result.stderr


def test_every_command_has_help():
    for command in ("launch", "status", "record", "extend", "events", "agencies"):
        result = dondoc(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_a_folder_launches_each_file_in_its_own_transaction_and_lists_the_refused(database, prefect_server, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from models.store.tables import Assignment, Notification

    folder = tmp_path / "many"
    paths = write_directives(folder, 4, 3)
    paths[1].write_text(paths[1].read_text(encoding="utf-8").replace("leads: [stnmt]", "leads: [nobody]"), encoding="utf-8")
    (folder / "d00099.yaml").write_text("number: [unclosed\n", encoding="utf-8")
    result = dondoc("launch", str(folder), "--json", "--now", "2020-11-30T09:00+07:00")
    assert result.exit_code == 2, result.output
    summary = json.loads(result.stdout)
    assert [item["slug"] for item in summary["launched"]] == ["1-b-stttt", "3-b-stttt", "4-b-stttt"]
    refused = {Path(item["path"]).name: item["refused"] for item in summary["refused"]}
    assert list(refused) == ["d00002.yaml", "d00099.yaml"]
    assert any("nobody" in problem and "leads" in problem for problem in refused["d00002.yaml"])
    assert any("YAML" in problem for problem in refused["d00099.yaml"])
    with transaction() as session:
        assert sorted(d.slug for d in session.exec(select(Directive)).all()) == ["1-b-stttt", "3-b-stttt", "4-b-stttt"]
        assert len(session.exec(select(Assignment)).all()) == 9
        assert len(session.exec(select(Notification).where(Notification.rung == "notice")).all()) == 9
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["launch-summary"])))[0]
    assert "Khởi tạo 3 văn bản, từ chối 2" in artifact.data and "d00002.yaml" in artifact.data

    again = dondoc("launch", str(paths[0]), str(paths[2]))  # already launched: refused, nothing written twice
    assert again.exit_code == 2 and "Đã khởi tạo 0 văn bản" in again.stderr


def test_several_files_print_slugs_and_a_summary(database, prefect_server, tmp_path):
    paths = write_directives(tmp_path / "two", 2, 1)
    result = dondoc("launch", *map(str, paths), "--now", "2020-11-30T09:00+07:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["1-b-stttt", "2-b-stttt"]
    assert "Đã khởi tạo 2 văn bản (2 nhiệm vụ); từ chối 0." in result.stderr


def test_launch_refuses_an_alias_bomb_in_one_line_and_writes_nothing(database, tmp_path):
    from tests.test_definition import bomb

    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(), encoding="utf-8")
    result = dondoc("launch", str(path))  # pytest-timeout stops a hang; today it returns at once
    assert result.exit_code == 2, result.output
    header, *found = result.stderr.strip().splitlines()
    assert header.startswith("Lỗi: định nghĩa không hợp lệ (1 lỗi)")
    assert [line.strip() for line in found] == [f"{path}:5: YAML quá lớn: bí danh *a3 lặp lại quá nhiều nút "
                                                "(tối đa 50.000 nút, kể cả các nút bí danh lặp lại)"]
    with transaction() as session:
        assert session.exec(select(Directive)).all() == []


def test_the_launch_form_refuses_a_pasted_alias_bomb(database, prefect_server):
    """What a coordinator pastes into the launch-directive deployment's form goes through the same reader."""
    from flows.launch import launch_directive
    from models.errors import DefinitionError
    from tests.test_definition import bomb

    with pytest.raises(DefinitionError) as info:
        launch_directive(yaml_text=bomb())
    assert [(p.file, p.line) for p in info.value.problems] == [("<pasted>", 5)]


def test_an_input_error_quoting_typed_text_is_one_visible_line(database):
    result = dondoc("status", "x\n\x1b[2J[/]y")
    assert result.exit_code == 1
    assert result.stderr == "Lỗi: không có văn bản chỉ đạo 'x\\n\\x1b[2J[/]y' (xem danh sách: dondoc status)\n"
    result = dondoc("launch", "nowhere\n\x1b[2J[/].yaml")
    assert result.exit_code == 2
    assert result.stderr == "Lỗi: nowhere\\u000a\\u001b[2J[/].yaml: không tìm thấy tệp\n"
