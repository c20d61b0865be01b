"""Real browser tests: Debian's chromium driven by Playwright (never a downloaded browser).

Screenshots go to $DONDOC_TEST_SCREENSHOTS when it is set (the README's images come
from `DONDOC_TEST_SCREENSHOTS=docs/screenshots make test`), else to a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.mailbox import free_port
from models.store.db import transaction
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.settings import get_settings
from models.store.tables import Assignment, ExtensionRequest
from models.calendar.timerules import TimeRules
from tests.conftest import ROOT, SEED

CHROMIUM = "/usr/bin/chromium"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("DONDOC_TEST_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory):
    """A real, long-lived `prefect server start` with its UI, on a free port."""
    home = tmp_path_factory.mktemp("prefect-ui")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": api}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("prefect server did not start: " + (home / "server.log").read_text())
    yield {"api": api, "ui": f"http://127.0.0.1:{port}", "home": home}
    server.terminate()
    server.wait(timeout=30)
    log.close()


def reply_link(messages, key: str) -> str:
    """The link in the lead agency's own notice (the copy to the supporting agencies carries none)."""
    texts = [m.get_body(("plain",)).get_content() for m in messages
             if str(m["X-Dondoc-Assignment"]) == key and str(m["X-Dondoc-Rung"]) == "notice"]
    return next(re.search(r"(http://\S+/phan-hoi/\S+)", text).group(1) for text in texts if "/phan-hoi/" in text)


@pytest.fixture
def reply_site(database, smtp, tmp_path, monkeypatch):
    """The seed launched, its notices delivered to a real mailbox, and `dondoc serve`'s reply pages up."""
    from dondoc.serve import WebServer
    from dondoc.web import create_app
    from models.store.db import open_database
    from notifications.dispatch import dispatch_batch
    from notifications.links import ReplyLinks

    port = free_port()
    monkeypatch.setenv("DONDOC_PUBLIC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    launched_at = datetime(2020, 12, 1, 9, tzinfo=TZ)
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=launched_at, rules=TimeRules(), actor="coordinator")
    settings = get_settings()
    dispatch_batch(open_database(settings.database_url), now=launched_at, settings=settings, rules=TimeRules(),
                   links=ReplyLinks.from_settings(settings))
    web = WebServer(create_app(settings=settings, clock=lambda: datetime(2020, 12, 28, 10, tzinfo=TZ)), "127.0.0.1", port)
    web.start()
    yield smtp
    web.stop()


def test_agency_reports_completion_from_a_link_in_its_mail(reply_site, page, tmp_path, shots):
    link = reply_link(reply_site.messages(), "permit-review")
    pdf = tmp_path / "15-SXD-QLXD.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    response = page.goto(link)
    assert response.status == 200
    page.screenshot(path=str(shots / "reply-page.png"), full_page=True)
    page.fill("#number", "15/SXD-QLXD")
    page.fill("#document_date", "2020-12-25")
    page.set_input_files("#document", str(pdf))
    page.click("#report-done")
    page.wait_for_selector("#notice")
    assert "báo cáo hoàn thành" in page.inner_text("#notice")
    page.screenshot(path=str(shots / "reply-done.png"), full_page=True)
    rows = {r["key"]: r for r in json.loads(CliRunner().invoke(app, ["status", SLUG, "--json"]).stdout)}
    assert rows["permit-review"]["status"] == "done" and rows["permit-review"]["evidence"] == "15/SXD-QLXD"


def test_a_tampered_link_shows_the_refusal_page(reply_site, page, shots):
    link = reply_link(reply_site.messages(), "land-use-conversion")
    tampered = link[:-4] + ("abcd" if not link.endswith("abcd") else "wxyz")
    response = page.goto(tampered)
    assert response.status == 403
    assert "chữ ký không đúng" in page.inner_text("#refusal")
    page.screenshot(path=str(shots / "reply-refused.png"))


def test_after_the_demo_the_prefect_ui_shows_its_runs_and_status_artifact(prefect_ui, page, tmp_path, shots):
    env = {**os.environ, "PREFECT_API_URL": prefect_ui["api"], "PREFECT_HOME": str(prefect_ui["home"])}
    demo = subprocess.run([sys.executable, "-m", "dondoc", "demo", "--output", str(tmp_path / "demo")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    page.goto(prefect_ui["ui"] + "/runs")
    page.get_by_text("simulate · 2550/STTTT-BCTT").first.wait_for(timeout=60_000)
    page.screenshot(path=str(shots / "prefect-runs.png"))
    page.goto(prefect_ui["ui"] + "/artifacts/key/directive-2550-stttt-bctt")
    page.get_by_text("Tổng số nhiệm vụ: 5").first.wait_for(timeout=60_000)
    page.get_by_role("link", name=re.compile(r"^[0-9a-f]{8}$")).first.click()  # the latest version: its table
    page.get_by_text("industrial-park-access").first.wait_for(timeout=60_000)
    assert page.get_by_text("Sở Xây dựng").count() > 0 and page.get_by_text("Đơn vị chủ trì").count() > 0
    page.screenshot(path=str(shots / "prefect-status-artifact.png"), full_page=True)


@pytest.fixture
def console(prefect_ui, database, smtp, tmp_path):
    """`dondoc serve --deployments` against the real Prefect server: the UI's Run forms are live."""
    env = {**os.environ, "PREFECT_API_URL": prefect_ui["api"], "PREFECT_HOME": str(prefect_ui["home"]),
           # The forms replay 2020 (a rehearsal setting: refused by default), and reports go to this test's folder.
           "DONDOC_DEPLOYMENTS_ALLOW_NOW": "true", "DONDOC_REPORTS_DIR": str(tmp_path / "reports")}
    served = subprocess.Popen([sys.executable, "-m", "dondoc", "serve", "--deployments", "--port", str(free_port())],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    names: set[str] = set()
    while time.monotonic() < deadline and len(names) < 7:
        assert served.poll() is None, served.stderr.read()
        found = httpx.post(f"{prefect_ui['api']}/deployments/filter", json={}, timeout=10).json()
        names = {d["name"] for d in found}
        time.sleep(1)
    assert {"Khởi tạo văn bản", "Ghi nhận báo cáo", "Quyết định gia hạn", "Xem xét kết quả", "Giao lại nhiệm vụ",
            "Lập báo cáo", "Quét theo lịch"} <= names
    yield prefect_ui
    served.send_signal(signal.SIGTERM)
    try:
        served.wait(timeout=60)
    except subprocess.TimeoutExpired:
        served.kill()


def run_from_form(page, ui: dict, deployment: str, parameters: dict, shot: Path) -> None:
    """Open the deployment's Run form with these values, keep a picture of it, and submit it."""
    page.goto(ui["ui"] + "/deployments")
    page.get_by_role("link", name=deployment).first.click()
    page.get_by_role("button", name="Run", exact=True).wait_for()
    run_form = page.url.split("?")[0] + "/run?parameters=" + quote(quote(json.dumps(parameters)))
    page.goto(run_form)
    page.get_by_role("button", name="Submit").wait_for()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot), full_page=True)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    submitted = re.compile(r".*/deployments/deployment/[^/]+\?tab=Runs.*|.*/runs/flow-run/.*")
    for attempt in range(3):
        page.get_by_role("button", name="Submit").click()
        try:
            page.wait_for_url(submitted, timeout=30_000 if attempt == 2 else 15_000)
            return
        except PlaywrightTimeout:
            # Prefect's own server on SQLite, busy with the previous run's writes, sometimes refuses the new run
            # (a toast "Oops. Something went wrong.", no run, no navigation); a person would press Submit again.
            # What the test asserts is unchanged: each action's effect in dondoc's database and mailbox.
            if attempt == 2:
                raise
            page.wait_for_timeout(2_000)


def wait_until(check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("condition not met in time")


def assignment(key):
    with transaction() as session:
        return session.exec(select(Assignment).where(Assignment.key == key)).first()


# On SQLite only: the forms and the flows behind them do not depend on the backend, what they write is tested on
# both (test_console.py, test_cli.py), and each pass through the Run forms costs one to two minutes.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_coordinator_action_from_the_prefect_run_form(console, smtp, page, tmp_path, shots):
    run_from_form(page, console, "Khởi tạo văn bản",
                  {"path": str(SEED), "now": "2020-11-30T09:00:00+07:00"}, shots / "run-launch.png")
    wait_until(lambda: assignment("permit-review"))

    run_from_form(page, console, "Ghi nhận báo cáo",
                  {"slug": SLUG, "key": "permit-review", "status": "done", "evidence": "15/SXD-QLXD",
                   "evidence_on": "2020-12-25", "now": "2020-12-28T10:00:00+07:00"}, shots / "run-record.png")
    wait_until(lambda: assignment("permit-review").status == "done")

    from models.lifecycle.extensions import request_extension

    with transaction() as session:
        request_extension(session, slug=SLUG, key="land-use-conversion", agency="stnmt", until=datetime(2021, 1, 15).date(),
                          reason="Chờ ý kiến Bộ", now=datetime(2020, 12, 22, 10, tzinfo=TZ), rules=TimeRules())
    run_from_form(page, console, "Quyết định gia hạn",
                  {"slug": SLUG, "key": "land-use-conversion", "approve": True, "reason": "Đồng ý",
                   "now": "2020-12-23T09:00:00+07:00"}, shots / "run-extension.png")
    wait_until(lambda: str(assignment("land-use-conversion").due) == "2021-01-15")
    with transaction() as session:
        assert session.exec(select(ExtensionRequest)).one().state == "approved"

    run_from_form(page, console, "Quét theo lịch", {"now": "2020-12-23T09:05:00+07:00"}, shots / "run-sweep.png")
    expected = {"notice", "extension-request", "extension-decision"}
    wait_until(lambda: expected <= {str(m["X-Dondoc-Rung"]) for m in smtp.messages()})

    report = tmp_path / "reports" / "bao-cao.docx"  # the form names a file of the reports folder
    run_from_form(page, console, "Lập báo cáo",
                  {"slug": SLUG, "format": "docx", "output": "bao-cao.docx", "now": "2021-01-20T09:00:00+07:00"},
                  shots / "run-report.png")
    wait_until(lambda: report.exists())
    assert report.read_bytes().startswith(b"PK")


def test_the_prefect_ui_shows_agency_text_in_artifacts_as_written(prefect_ui, page, workspace, tmp_path):
    """Prefect's UI renders HTML and Markdown in table cells and descriptions: dondoc must escape both."""
    evil = workspace / "evil.yaml"
    title = '<img src=x id=injected> **đậm** - [bấm](http://evil.example)'
    evil.write_text(SEED.read_text(encoding="utf-8").replace(
        "title: Rà soát vướng mắc trong cấp phép xây dựng trạm BTS", f"title: '{title}'"), encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": prefect_ui["api"], "PREFECT_HOME": str(prefect_ui["home"]),
           "DONDOC_DATABASE_URL": f"sqlite:///{tmp_path / 'evil.db'}"}
    launched = subprocess.run([sys.executable, "-m", "dondoc", "launch", str(evil), "--now", "2020-11-30T09:00+07:00"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr
    page.goto(prefect_ui["ui"] + "/artifacts/key/directive-2550-stttt-bctt")
    page.get_by_role("link", name=re.compile(r"^[0-9a-f]{8}$")).first.click()
    page.get_by_text("industrial-park-access").first.wait_for(timeout=60_000)
    assert page.locator("#injected").count() == 0 and page.locator("a[href^='http://evil']").count() == 0
    assert page.get_by_text(title, exact=True).count() == 1
