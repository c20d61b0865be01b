"""`dondoc sweep` and `dondoc outbox` through the CLI, with a real Prefect server and a real SMTP server."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dondoc.cli import app
from tests.conftest import SEED

runner = CliRunner()


def dondoc(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_sweep_prints_counts_and_outbox_lists_rows(database, smtp, prefect_server):
    assert dondoc("launch", str(SEED), "--now", "2020-11-30T09:00+07:00").exit_code == 0
    pending = json.loads(dondoc("outbox", "2550-stttt-bctt", "--json").stdout)
    assert {row["state"] for row in pending} == {"pending"}
    assert {"due_at", "rung", "assignment", "recipients", "state", "message_id"} <= set(pending[0])

    result = dondoc("sweep", "--now", "2020-11-30T09:05+07:00")
    assert result.exit_code == 0 and "Đã gửi: 5 thông báo (10 thư)" in result.stdout and "Lỗi: 0" in result.stdout
    again = json.loads(dondoc("sweep", "--now", "2020-11-30T09:05+07:00", "--json").stdout)
    assert again["sent"] == 0 and again["batches"] == 1

    sent = json.loads(dondoc("outbox", "--state", "sent", "--json").stdout)
    assert len(sent) == 5 and all(row["recipients"]["to"] for row in sent)
    # Each row lists the messages it went out as: one per lead agency, and the copy.
    envelopes = [e for row in sent for e in row["recipients"]["envelopes"]]
    assert {e["message_id"] for e in envelopes} == {str(m["Message-ID"]) for m in smtp.messages()}
    assert len(envelopes) == len(smtp.messages()) == 10
    table = dondoc("outbox", "2550-stttt-bctt")
    assert table.exit_code == 0 and "notice" in table.stdout and "reminder" in table.stdout
    assert dondoc("outbox", "--state", "lost").exit_code == 2


def test_every_outbox_command_has_help():
    for command in ("sweep", "outbox", "mailbox", "serve", "simulate", "demo"):
        result = dondoc(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout, command
