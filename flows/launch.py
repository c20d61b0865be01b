"""Launching a directive: one transaction, then one subflow run per assignment."""

from __future__ import annotations

from datetime import datetime

from pathlib import Path

from prefect import flow

from flows.kinds import KIND_FLOWS
from models.errors import InputError
from flows.runtime import (directive_tags, in_process_subflows, label_current_run, report_progress, report_stored,
                           resolve_now)
from tasks.artifacts import publish_launch_summary, publish_status
from tasks.feed import publish_changes
from tasks.directives import store_directive, store_directives


@flow(name="launch-directive", flow_run_name="launch")
def launch_directive(
    path: str | None = None,
    yaml_text: str | None = None,
    now: datetime | None = None,
    actor: str = "coordinator",
    base_dir: str = "directives",
) -> dict:
    """Khởi tạo văn bản chỉ đạo: kiểm tra, tạo các nhiệm vụ trong một giao dịch, rồi mở từng nhiệm vụ.

    Args:
        path: Tệp YAML, ví dụ directives/2550-STTTT-BCTT.yaml (hoặc chỉ tên tệp trong thư mục directives/).
        yaml_text: Hoặc dán nội dung YAML của văn bản vào đây (tệp danh mục cơ quan tính từ thư mục directives/).
        now: Thời điểm khởi tạo; bỏ trống là giờ thực.
        actor: Người khởi tạo.
        base_dir: Thư mục chứa văn bản và danh mục cơ quan.
    """
    now = resolve_now(now)
    if path is not None and not Path(path).exists() and (Path(base_dir) / path).exists():
        path = str(Path(base_dir) / path)
    return launch_one(path=path, yaml_text=yaml_text, now=now, actor=actor, base_dir=base_dir)


def launch_one(*, path: str | None, yaml_text: str | None, now: datetime, actor: str, base_dir: str,
               within: str | None = None) -> dict:
    """The body of a launch: the command line's flow above and the Run form's (flows/console.py) share it.

    With ``within``, the registry the definition names must lie in that folder.
    """
    if (path is None) == (yaml_text is None):
        raise InputError("cần đúng một trong hai: path (tệp) hoặc yaml_text (nội dung dán vào)")
    launched = store_directive(now=now, actor=actor, path=path, text=yaml_text, base_dir=base_dir, within=within)
    slug, number = launched["slug"], launched["number"]
    every_agency = [c for a in launched["assignments"] for c in (*a["leads"], *a["supporting"])]
    label_current_run(directive_tags(slug, every_agency), name=f"launch · {number}")
    report_stored(launched)  # committed: what follows only shows it in the UI
    with in_process_subflows():
        for item in launched["assignments"]:
            kind_flow = KIND_FLOWS[item["kind"]].with_options(flow_run_name=f"{item['key']} · {number}")
            kind_flow(assignment_id=item["id"])
    publish_status(slug, now)
    publish_changes(now)
    return launched


@flow(name="launch-directives", flow_run_name="launch · {label}")
def launch_directives(
    paths: list[str],
    now: datetime | None = None,
    actor: str = "coordinator",
    chunk: int = 100,
    label: str = "many",
) -> dict:
    """Khởi tạo nhiều văn bản: mỗi tệp một giao dịch; tệp sai bị từ chối, các tệp khác vẫn được khởi tạo.

    One flow run and one task run per ``chunk`` files, whatever the number of
    directives: a subflow per assignment (as for one directive) would cost
    about a second each. One artifact, ``launch-summary``, lists what was
    launched and refused; each directive's status table follows with the next
    sweeps (DONDOC_ARTIFACTS_PER_SWEEP at a time), since Prefect takes about 50
    artifacts a second here: half the time of launching 1,000 directives.

    Args:
        paths: Các tệp YAML.
        now: Thời điểm khởi tạo; bỏ trống là giờ thực.
        actor: Người khởi tạo.
        chunk: Số tệp mỗi task.
        label: Nhãn của lần chạy.
    """
    now = resolve_now(now)
    results: list[dict] = []
    report_progress(0, len(paths))
    for start in range(0, len(paths), chunk):
        results += store_directives(paths[start:start + chunk], now=now, actor=actor)
        report_progress(len(results), len(paths))
    launched = [r for r in results if "slug" in r]
    refused = [r for r in results if "refused" in r]
    publish_launch_summary(launched, refused, now)
    return {"launched": launched, "refused": refused}
