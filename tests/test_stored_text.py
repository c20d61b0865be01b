"""Text already stored, whatever it holds, never breaks a command or a report, and is shown as typed.

Input now refuses control characters and markup cannot hurt, but old rows (or
rows written by an older version) may hold anything: these tests write such
strings straight into the database, bypassing every input check, then run the
coordinator's commands on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from sqlalchemy import text as sql
from sqlmodel import select
from typer.testing import CliRunner

from dondoc.cli import app
from models.store.db import transaction
from models.lifecycle.extensions import request_extension
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.store.tables import Agency, Assignment, Directive, Event, ExtensionRequest, Notification
from models.textcheck import shown
from models.calendar.timerules import TimeRules
from models.lifecycle.updates import record_update
from tests.conftest import ROOT, SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"
runner = CliRunner()

# Rich markup that would close a tag that is not open (MarkupError), a hyperlink, a colour
# escape sequence, NUL, a C1 control (8-bit CSI) and a bidi override.
EVIDENCE = "15/[/]SXD\x1b[31m[link=http://x]y[/link]\x00\x9b\u202e"
NOTE = "dòng một [/]\n[bold]in đậm[/bold] :warning: \x1b]8;;http://evil.example\x1b\\bấm\x1b]8;;\x1b\\ \x07"
NUMBER = "2550/[/]STTTT\x1b[2J-BCTT"
NAME = "Sở [/] Xây dựng\x1b[0m\u200b"


def _storable(value: str, url: str) -> str:
    """PostgreSQL text cannot hold NUL at all, so no old row there can either."""
    return value.replace("\x00", "") if url.startswith("postgresql") else value


@pytest.fixture
def soiled(database):
    """The seed, one completion and one extension request; then their text replaced by hostile strings in place."""
    rules = TimeRules()
    evidence, note, number, name = (_storable(v, database) for v in (EVIDENCE, NOTE, NUMBER, NAME))
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=datetime(2020, 11, 30, 9, tzinfo=TZ),
                         rules=rules, actor="coordinator")
        record_update(session, slug=SLUG, key="permit-review", status="done", evidence="15/SXD-QLXD",
                      evidence_on=date(2020, 12, 25), note="ghi chú", now=datetime(2020, 12, 28, 10, tzinfo=TZ),
                      rules=rules, actor="sxd")
        request_extension(session, slug=SLUG, key="network-transition", agency="stttt", until=date(2021, 1, 15),
                          reason="Chờ Bộ", now=datetime(2020, 12, 22, 10, tzinfo=TZ), rules=rules)
    with transaction() as session:
        directive = session.exec(select(Directive)).one()
        directive.number, directive.subject = number, f"về việc {name}"
        # Report settings launched before today's text rules: the report must still be made.
        directive.definition = {**directive.definition, "report": {"symbol": f"BC-{name}", "difficulties": [note]}}
        permit = session.exec(select(Assignment).where(Assignment.key == "permit-review")).one()
        permit.evidence, permit.title = evidence, f"Thẩm định {name}"
        session.add_all([directive, permit])
        # The trail is append-only: an event as an old version might have written it.
        session.add(Event(at=datetime(2020, 12, 29, 10, tzinfo=TZ), actor=name, kind="status", directive_id=directive.id,
                          assignment_id=permit.id, payload={"from": "done", "to": "done", "note": note, "evidence": evidence}))
        request = session.exec(select(ExtensionRequest)).one()
        request.reason = note
        session.add(request)
        notice = session.exec(select(Notification).where(Notification.rung == "notice")).first()
        notice.state, notice.last_error = "failed", evidence
        notice.recipients = {"to": [name], "cc": [evidence]}
        session.add(notice)
        # The agency row through SQL: the registry is otherwise reloaded only from a file.
        session.exec(sql("UPDATE agency SET name = :name WHERE code = 'sxd'").bindparams(name=name))
    return {"evidence": evidence, "note": note, "number": number, "name": name}


def dondoc(*args: str):
    # Wide enough that no table folds a value over two lines.
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "1000"})


def assert_as_typed(output: str, *values: str) -> None:
    assert "\x1b" not in output and "\x9b" not in output and "\x00" not in output and "\u202e" not in output
    for value in values:
        for line in value.splitlines():
            assert shown(line) in output, (shown(line), output)


def test_status_of_one_directive_and_of_all_show_stored_text_as_typed(soiled):
    result = dondoc("status", SLUG, "--now", "2021-01-05T09:00+07:00")
    assert result.exit_code == 0, result.output
    assert_as_typed(result.stdout, soiled["evidence"], soiled["number"], f"về việc {soiled['name']}")
    everything = dondoc("status")
    assert everything.exit_code == 0, everything.output
    assert_as_typed(everything.stdout, soiled["number"])


def test_events_show_notes_numbers_and_actors_as_typed(soiled):
    for target in (SLUG, f"{SLUG}/permit-review"):
        result = dondoc("events", target)
        assert result.exit_code == 0, result.output
        assert_as_typed(result.stdout, soiled["note"], soiled["evidence"], soiled["name"], soiled["number"])
        assert "[bold]in đậm[/bold] :warning:" in result.stdout  # neither markup nor an emoji code


def test_outbox_and_extensions_show_stored_text_as_typed(soiled):
    result = dondoc("outbox")
    assert result.exit_code == 0, result.output
    assert_as_typed(result.stdout, soiled["evidence"], soiled["name"])
    result = dondoc("extensions")
    assert result.exit_code == 0, result.output
    assert_as_typed(result.stdout, soiled["note"])


def test_json_output_keeps_the_stored_text_and_carries_no_raw_control(soiled):
    result = dondoc("events", SLUG, "--json")
    assert result.exit_code == 0, result.output
    assert not any(c in result.stdout for c in "\x1b\x9b\x00\x07\u202e\u200b")
    notes = [e["payload"].get("note") for e in json.loads(result.stdout)]
    assert soiled["note"] in notes


def test_a_forced_terminal_gets_no_hyperlink_and_no_stored_escape(soiled):
    """With colour on (FORCE_COLOR), Rich writes its own styles; it must write none of the stored text's."""
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "1000", "PYTHONPATH": str(ROOT)}
    for args in (["events", SLUG], ["status", SLUG, "--now", "2021-01-05T09:00+07:00"]):
        done = subprocess.run([sys.executable, "-m", "dondoc", *args], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "\x1b[" in done.stdout  # the colours are on: the check below means something
        assert "\x1b]8;" not in done.stdout and "\x1b[31m[link" not in done.stdout and "\x1b[2J" not in done.stdout
        assert "[link=http://x]y[/link]" in done.stdout


@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_reports_are_written_from_stored_text_of_any_kind(soiled, prefect_server, tmp_path, fmt):
    """The report flow (produce-report), run by the CLI, with every kind of stored text in it."""
    target = tmp_path / f"bao-cao.{fmt}"
    result = dondoc("report", SLUG, "--format", fmt, "-o", str(target), "--now", "2021-01-20T09:00+07:00")
    assert result.exit_code == 0, result.output
    if fmt == "docx":
        document = Document(str(target))
        text = "\n".join([p.text for p in document.paragraphs]
                         + [c.text for t in document.tables for row in t.rows for c in row.cells])
    else:
        text = target.read_text(encoding="utf-8")
    assert not any(c in text for c in "\x1b\x9b\x00\x07\u202e\u200b")
    if fmt == "md":  # Markdown escapes its punctuation: compare the words around it
        assert "15/\\[/\\]SXD\\\\u001b" in text and "Thẩm định Sở \\[/\\] Xây dựng\\\\u001b\\[0m\\\\u200b" in text
    elif fmt == "html":
        assert shown(soiled["evidence"]) in text and "Thẩm định Sở [/] Xây dựng\\u001b[0m\\u200b" in text
    else:
        assert shown(soiled["evidence"]) in text and shown(f"Thẩm định {soiled['name']}") in text
        assert shown(soiled["number"]) in text and shown(f"BC-{soiled['name']}") in text
        assert all(shown(line) in text for line in soiled["note"].splitlines())


def test_markdown_text_shows_controls_as_codes():
    from notifications.wording import markdown_text

    assert markdown_text("a\x1b[31mb\x00c\u202ed\te") == "a\\\\u001b\\[31mb\\\\u0000c\\\\u202ed e"


def test_print_json_escapes_every_hidden_character_and_means_the_same(capsys):
    from dondoc.app import print_json

    data = {"note": "x\x1b\x7f\x9b\u202e\U000e0001 Việt\nhai"}
    print_json(data)
    written = capsys.readouterr().out
    assert all(shown(c, multiline=True) == c for c in written)
    assert "Việt" in written and json.loads(written) == data

