"""What the Prefect UI shows after a launch: one named, tagged subflow run per assignment, and the status artifact."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterParentFlowRunId

from flows.launch import launch_directive
from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_launch_shows_subflows_and_status_artifact(database, prefect_server):
    state = launch_directive(path=str(SEED), now=datetime(2020, 11, 30, 9, tzinfo=TZ), return_state=True)
    assert state.is_completed()
    parent_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        parent = client.read_flow_run(parent_id)
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
        )
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["directive-2550-stttt-bctt"])))
        flows = {f.id: f.name for f in client.read_flows()}

    assert parent.name == "launch · 2550/STTTT-BCTT"
    assert "directive:2550-stttt-bctt" in parent.tags
    by_name = {run.name: run for run in children}
    assert set(by_name) == {f"{key} · 2550/STTTT-BCTT" for key in (
        "network-transition", "permit-review", "land-use-conversion", "industrial-park-access", "annual-plan")}
    assert all(run.state.is_completed() for run in children)
    permit = by_name["permit-review · 2550/STTTT-BCTT"]
    assert flows[permit.flow_id] == "permit-review"
    assert {"directive:2550-stttt-bctt", "agency:sxd", "agency:viettel"} <= set(permit.tags)
    assert {"agency:sct", "agency:bqlkkt", "agency:kcn-investors"} <= set(by_name["industrial-park-access · 2550/STTTT-BCTT"].tags)

    latest = [a for a in artifacts if a.flow_run_id == parent_id]
    assert len(latest) == 1 and latest[0].type == "table"
    table = latest[0].data if isinstance(latest[0].data, list) else __import__("json").loads(latest[0].data)
    assert {"Nhiệm vụ", "Đơn vị chủ trì", "Thời hạn", "Trạng thái"} <= set(table[0])
    assert [row["Khóa"] for row in table][0] == "network-transition" and len(table) == 5


def test_status_artifacts_go_out_a_bounded_number_per_sweep_changes_first(database, prefect_server, tmp_path, monkeypatch):
    from dondoc.testing import write_directives
    from models.store.db import transaction
    from models.lifecycle.launch import launch_directive as store
    from models.definition.loader import load_directive_file
    from models.lifecycle.queries import get_directive, stale_directives
    from models.calendar.timerules import TimeRules
    from models.lifecycle.updates import record_update
    from tasks.artifacts import publish_statuses

    rules = TimeRules()
    launched = datetime(2020, 11, 30, 9, tzinfo=TZ)
    for path in write_directives(tmp_path / "d", 3, 1):
        with transaction() as session:
            store(session, loaded=load_directive_file(path), now=launched, rules=rules, actor="t")
    monkeypatch.setenv("DONDOC_ARTIFACTS_PER_SWEEP", "2")
    assert [publish_statuses.fn(launched) for _ in range(3)] == [2, 1, 0]  # the third sweep has nothing left

    next_day = datetime(2020, 12, 1, 9, tzinfo=TZ)
    with transaction() as session:
        record_update(session, slug="3-b-stttt", key="a1", status="acknowledged", now=next_day, rules=rules, actor="sxd")
        ids = {get_directive(session, slug=f"{i}-b-stttt").id: i for i in (1, 2, 3)}
        order = [ids[i] for i in stale_directives(session, now=next_day, rules=rules)]
    assert order == [3, 1, 2]  # what changed first, then the day's refresh, oldest first
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="directive-")))}
    assert {"directive-1-b-stttt", "directive-2-b-stttt", "directive-3-b-stttt"} <= keys
