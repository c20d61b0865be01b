"""Security promises that no other test file owns: secrets stay secret, agency text never becomes markup.

docs/security.md lists every promise and the test that shows it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.mailbox import MaildirHandler, free_port, read_messages
from models.store.db import transaction
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.settings import get_settings
from models.store.tables import Assignment, Notification
from models.calendar.timerules import TimeRules
from models.lifecycle.updates import record_update
from notifications.links import ReplyLinks
from notifications.wording import markdown_text
from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"
PASSWORD = "Mk-7f3Q!smtp-secret-not-for-logs"
EVIL = '<img src=x onerror="alert(1)"> **đậm** [bấm](http://evil.example) | ô'


def at(y, m, d, h=9, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=TZ)


@pytest.fixture
def smtp_with_login(tmp_path, monkeypatch):
    """A real aiosmtpd server that demands AUTH and accepts only PASSWORD."""
    attempts: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password.decode() == PASSWORD
        attempts.append("ok" if ok else "refused")
        return AuthResult(success=ok)

    handler = MaildirHandler(tmp_path / "maildir")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    monkeypatch.setenv("DONDOC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DONDOC_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("DONDOC_SMTP_TIMEOUT", "2")
    monkeypatch.setenv("DONDOC_SMTP_USERNAME", "dondoc")
    yield tmp_path / "maildir", attempts
    controller.stop()


def _prefect_record_of(run_id) -> str:
    """Everything Prefect keeps about a flow run: its parameters, state, logs, task runs and artifacts, as text."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        artifacts = client.read_artifacts()
    return "\n".join([run.model_dump_json(), *(log.message for log in logs), *(t.model_dump_json() for t in tasks),
                      *(a.model_dump_json() for a in artifacts)])


@pytest.mark.prefect
def test_the_smtp_password_never_appears_in_logs_parameters_artifacts_or_json(
        database, prefect_server, smtp_with_login, monkeypatch, capfd, caplog):
    from flows.sweep import escalation_sweep

    maildir, attempts = smtp_with_login
    caplog.set_level(logging.DEBUG)
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=at(2020, 11, 30), rules=TimeRules(), actor="t")

    # A wrong password first: the failure is reported, without the password that was tried.
    monkeypatch.setenv("DONDOC_SMTP_PASSWORD", PASSWORD + "-wrong")
    refused = escalation_sweep(now=at(2020, 11, 30, 9, 5), return_state=True)
    assert refused.result()["sent"] == 0 and refused.result()["retrying"] > 0
    with transaction() as session:
        errors = [n.last_error or "" for n in session.exec(select(Notification)).all()]
    assert any(errors)  # aiosmtpd stalls a refused login: this server's answer is a timeout

    monkeypatch.setenv("DONDOC_SMTP_PASSWORD", PASSWORD)
    accepted = escalation_sweep(now=at(2020, 12, 1, 10), return_state=True)
    assert accepted.result()["sent"] > 0 and "ok" in attempts and "refused" in attempts
    assert len(read_messages(maildir)) == accepted.result()["delivered"]

    runner = CliRunner()
    outputs = [runner.invoke(app, args).output for args in (
        ["outbox", SLUG, "--json"], ["status", SLUG, "--json"], ["events", SLUG, "--json"],
        ["sweep", "--json", "--now", "2020-12-01T10:05+07:00"])]
    assert json.loads(outputs[0]) and json.loads(outputs[1])
    seen = "\n".join([
        *outputs, *errors, capfd.readouterr().out, capfd.readouterr().err, caplog.text,
        _prefect_record_of(refused.state_details.flow_run_id), _prefect_record_of(accepted.state_details.flow_run_id),
        *(path.read_text(errors="replace") for path in maildir.rglob("*") if path.is_file()),
        repr(get_settings()), str(get_settings().model_dump()),
    ])
    assert "X-Dondoc-Rung" in seen and "dispatch-batch" in seen and "smtp_password" in seen  # every source was read
    assert PASSWORD not in seen


def test_markdown_text_keeps_agency_text_from_becoming_markup():
    assert markdown_text(EVIL) == ('&lt;img src=x onerror="alert(1)"&gt; \\*\\*đậm\\*\\* \\[bấm\\](http\\://evil.example) '
                                   '\\| ô')
    assert markdown_text("1. Đã xong") == "1\\. Đã xong"
    assert markdown_text("- gạch đầu dòng") == "\\- gạch đầu dòng"
    assert markdown_text("15/SXD-QLXD ngày 25/12/2020 (bản chính)") == "15/SXD-QLXD ngày 25/12/2020 (bản chính)"
    assert markdown_text("hai\r\ndòng") == "hai  dòng"


@pytest.fixture
def evil_campaign(database, workspace, tmp_path, monkeypatch):
    """The seed with a coordinator's title and an agency's evidence that try to be markup."""
    evil = workspace / "evil.yaml"
    evil.write_text(SEED.read_text(encoding="utf-8").replace(
        "title: Rà soát vướng mắc trong cấp phép xây dựng trạm BTS", f"title: '{EVIL}'").replace(
        "subject: Xây dựng kế hoạch", "subject: <svg onload=alert(3)> Xây dựng kế hoạch"), encoding="utf-8")
    monkeypatch.setenv("DONDOC_SECRET_KEY", "security-test")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    rules = TimeRules()
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(evil), now=at(2020, 11, 30), rules=rules, actor="t")
    with transaction() as session:
        record_update(session, slug=SLUG, key="land-use-conversion", status="done", now=at(2020, 12, 20), rules=rules,
                      actor="stnmt", evidence="<script>alert(2)</script>", note="<b>ghi chú</b>")
    return evil


def test_reply_pages_escape_coordinator_and_agency_text(evil_campaign):
    from dondoc.web import create_app

    client = TestClient(create_app(clock=lambda: at(2020, 12, 21)), follow_redirects=False)
    with transaction() as session:
        permit = session.exec(select(Assignment).where(Assignment.key == "permit-review")).one()
        land = session.exec(select(Assignment).where(Assignment.key == "land-use-conversion")).one()
    links = ReplyLinks.from_settings(get_settings())
    page = client.get(f"/phan-hoi/{SLUG}/permit-review",
                      params={"t": links.token(assignment_id=permit.id, agency="sxd", slug=SLUG, key="permit-review",
                                               now=at(2020, 12, 1))[0]})
    assert page.status_code == 200
    assert "<img" not in page.text and "&lt;img src=x" in page.text
    done = client.get(f"/phan-hoi/{SLUG}/land-use-conversion",
                      params={"t": links.token(assignment_id=land.id, agency="stnmt", slug=SLUG,
                                               key="land-use-conversion", now=at(2020, 12, 1))[0]})
    assert done.status_code == 200
    assert "<script>alert(2)" not in done.text and "&lt;script&gt;alert(2)" in done.text
    assert "<b>ghi chú</b>" not in done.text


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_reports_escape_coordinator_and_agency_text(evil_campaign, tmp_path, fmt):
    target = tmp_path / f"bao-cao.{fmt}"
    result = CliRunner().invoke(app, ["report", SLUG, "--format", fmt, "-o", str(target),
                                      "--now", "2021-01-05T09:00+07:00"])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "<img" not in text and "<script>" not in text and "<svg onload" not in text
    assert "&lt;img src=x" in text and "&lt;script&gt;alert(2)" in text and "&lt;svg onload" in text
    if fmt == "html":
        assert "<svg" in text  # the timeline is there, its title escaped
