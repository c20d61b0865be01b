"""Prefect task runs per sweep (goal: at most one per 100 messages, plus a constant).

    .venv/bin/python bench/sweep_task_runs.py [--messages 2000 5000]

Plans N due notifications, runs one `escalation-sweep` flow against a real
`prefect server start`, and counts the task runs Prefect recorded for it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import at, mailbox_process, prefect_server, report, write_directives  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[500, 2000, 5000])
    args = parser.parse_args()
    with prefect_server() as api:
        os.environ["PREFECT_API_URL"] = api
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
        for count in args.messages:
            measure(count)


def measure(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    os.environ["DONDOC_DATABASE_URL"] = f"sqlite:///{work / 'dondoc.db'}"
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.sweep import escalation_sweep
    from models.store.db import transaction
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.calendar.timerules import TimeRules

    rules = TimeRules()
    for path in write_directives(work / "directives", max(1, count // 100), min(count, 100)):
        with transaction() as session:
            launch_directive(session, loaded=load_directive_file(path), now=at(2020, 11, 30, 9), rules=rules, actor="bench")
    with mailbox_process(work / "maildir") as port:
        os.environ["DONDOC_SMTP_PORT"] = str(port)
        started = time.perf_counter()
        state = escalation_sweep(now=at(2020, 11, 30, 9, 5), return_state=True)
        seconds = time.perf_counter() - started
    result = state.result()
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    report("sweep_task_runs", {"messages": result["sent"], "task_runs": len(tasks), "batches": result["batches"],
                               "limit": 2 + -(-result["sent"] // 100), "seconds": round(seconds, 2)})


if __name__ == "__main__":
    main()
