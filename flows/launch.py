"""Launching a directive: one transaction, then one subflow run per assignment."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from flows.kinds import KIND_FLOWS
from flows.runtime import directive_tags, in_process_subflows, label_current_run, resolve_now
from tasks.artifacts import publish_status
from tasks.directives import store_directive


@flow(name="launch-directive", flow_run_name="launch")
def launch_directive(
    path: str | None = None,
    yaml_text: str | None = None,
    now: datetime | None = None,
    actor: str = "coordinator",
    base_dir: str = "directives",
) -> dict:
    """Validate a directive (a file, or pasted YAML), create its assignments, and open each one."""
    now = resolve_now(now)
    if (path is None) == (yaml_text is None):
        raise ValueError("give exactly one of path or yaml_text")
    launched = store_directive(now=now, actor=actor, path=path, text=yaml_text, base_dir=base_dir)
    slug, number = launched["slug"], launched["number"]
    every_agency = [c for a in launched["assignments"] for c in (*a["leads"], *a["supporting"])]
    label_current_run(directive_tags(slug, every_agency), name=f"launch · {number}")
    with in_process_subflows():
        for item in launched["assignments"]:
            kind_flow = KIND_FLOWS[item["kind"]].with_options(flow_run_name=f"{item['key']} · {number}")
            kind_flow(assignment_id=item["id"])
    publish_status(slug, now)
    return launched
