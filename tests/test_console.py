"""The flows behind the Run forms (flows/console.py): the coordinator acts, on the real clock, within its folders."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.store.db import transaction
from models.errors import InputError
from models.settings import get_settings
from models.store.tables import Assignment, Event
from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"


def test_no_form_asks_who_acts_or_where_to_look():
    from flows.deployments import build

    forms = {d.name: set(d._parameter_openapi_schema.properties) for d in build(get_settings())}
    assert forms["Ghi nhận báo cáo"] == {"slug", "key", "status", "evidence", "evidence_on", "note", "now"}
    assert forms["Khởi tạo văn bản"] == {"path", "yaml_text", "now"}
    assert forms["Xem xét kết quả"] == {"slug", "key", "accept", "reason", "until", "now"}
    assert forms["Giao lại nhiệm vụ"] == {"slug", "key", "reason", "leads", "supporting", "until", "keep", "now"}
    assert all(not fields & {"actor", "base_dir"} for fields in forms.values()) and len(forms) == 7


@pytest.fixture
def checkout(tmp_path, monkeypatch, workspace, prefect_server):
    """A worker's working directory: directives/ (the default DONDOC_DIRECTIVES_DIR), SQLite, a reports folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'dondoc.db'}")
    monkeypatch.setenv("DONDOC_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path


def test_form_actions_are_the_coordinators_on_the_real_clock_within_their_folders(checkout, monkeypatch):
    from flows.console import launch_directive, produce_report, record_update

    # A form cannot move the clock: refused before anything is read or written. (`.fn` is the flow's body,
    # without the cost of a flow run: these refusals come before any Prefect call; one below is a real run.)
    with pytest.raises(InputError, match="^now: .*DONDOC_DEPLOYMENTS_ALLOW_NOW"):
        launch_directive.fn(path=f"directives/{SEED.name}", now=datetime(2020, 11, 30, 9, tzinfo=TZ))
    with pytest.raises(InputError, match="^path: .*nằm ngoài thư mục văn bản"):
        launch_directive.fn(path="../../../../etc/passwd")

    # A rehearsal install (its workers' setting, not the form's) replays 2020.
    monkeypatch.setenv("DONDOC_DEPLOYMENTS_ALLOW_NOW", "true")
    launched = launch_directive(path=f"directives/{SEED.name}", now=datetime(2020, 11, 30, 9, tzinfo=TZ))
    assert launched["slug"] == SLUG
    record_update(slug=SLUG, key="permit-review", status="done", evidence="15/SXD-QLXD",
                  now=datetime(2020, 12, 28, 10, tzinfo=TZ))
    monkeypatch.delenv("DONDOC_DEPLOYMENTS_ALLOW_NOW")
    with pytest.raises(InputError, match="^now: "):
        record_update(slug=SLUG, key="land-use-conversion", status="done", now=datetime(2020, 12, 1, tzinfo=TZ))
    with transaction() as session:
        assert session.exec(select(Assignment).where(Assignment.key == "land-use-conversion")).one().status != "done"
        assert {e.actor for e in session.exec(select(Event)).all()} == {"coordinator"}

    for escape in ("../escaped.md", str(checkout / "escaped.md")):
        with pytest.raises(InputError, match="^output: .*nằm ngoài thư mục báo cáo"):
            produce_report.fn(slug=SLUG, format="md", output=escape)
    assert not (checkout / "escaped.md").exists() and not (checkout / "reports").exists()
    written = produce_report(slug=SLUG, format="md", output="2021/bao-cao.md")
    assert written["path"] == str((checkout / "reports" / "2021" / "bao-cao.md").resolve())
    assert "15/SXD-QLXD" in (checkout / "reports" / "2021" / "bao-cao.md").read_text(encoding="utf-8")


def test_the_review_and_reassign_forms_act_as_the_coordinator(checkout, monkeypatch):
    """The two forms issue 12 adds, each as one real flow run: a return for more, then a reassignment."""
    from flows.console import launch_directive, reassign_assignment, review_result
    from models.lifecycle.refusal import decline
    from models.lifecycle.updates import record_update
    from models.calendar.timerules import TimeRules

    monkeypatch.setenv("DONDOC_DEPLOYMENTS_ALLOW_NOW", "true")
    launched = launch_directive(path="directives/45-KH-UBND.yaml", now=datetime(2021, 1, 15, 9, tzinfo=TZ))
    slug = launched["slug"]
    with transaction() as session:
        decline(session, slug=slug, key="planning-update", agency="sxd", reason="Thuộc Sở TTTT",
                now=datetime(2021, 1, 19, 10, tzinfo=TZ), rules=TimeRules())
    moved = reassign_assignment(slug=slug, key="planning-update", reason="Giao Sở TTTT", leads=["stttt"],
                                now=datetime(2021, 1, 21, 10, tzinfo=TZ))
    with transaction() as session:
        record_update(session, slug=slug, key="bts-sharing", status="done", evidence="35/HD-STTTT",
                      now=datetime(2021, 3, 5, 10, tzinfo=TZ), rules=TimeRules(), actor="stttt", by_agency=True)
    returned = review_result(slug=slug, key="bts-sharing", accept=False, reason="Bổ sung khu vực biên giới",
                             now=datetime(2021, 3, 9, 10, tzinfo=TZ))
    assert returned["status"] == "in_progress" and moved["leads"] == ["stttt"]
    with transaction() as session:
        actors = {e.actor for e in session.exec(select(Event).where(Event.kind.in_(("returned", "reassigned")))).all()}
    assert actors == {"coordinator"}  # the form never asks who acts
