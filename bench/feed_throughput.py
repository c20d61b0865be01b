"""Sending the audit trail to Prefect's event feed: a backlog of `assigned` events, and an idle call.

    .venv/bin/python bench/feed_throughput.py [--directives 400]

Directives of 5 assignments are launched (one transaction each, as `dondoc launch`), then the feed is sent
from its cursor in one call (500 audit rows a request) to a real `prefect server start`; then a call with
nothing new, which is what every sweep pays.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TZ, fresh_database, prefect_server, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directives", type=int, default=400)
    args = parser.parse_args()
    import tempfile

    from dondoc.testing import write_directives
    from models.calendar.timerules import TimeRules
    from models.definition.loader import load_directive_file
    from models.lifecycle.launch import launch_directive
    from models.store.db import transaction

    with prefect_server() as api, fresh_database(None, "feed") as url, tempfile.TemporaryDirectory() as folder:
        os.environ["PREFECT_API_URL"] = api
        os.environ["DONDOC_DATABASE_URL"] = url
        from tasks.feed import publish

        now = datetime(2021, 3, 1, 9, tzinfo=TZ)
        for path in write_directives(Path(folder), args.directives, 5):
            with transaction() as session:
                launch_directive(session, loaded=load_directive_file(path), now=now, rules=TimeRules(), actor="bench")
        started = time.perf_counter()
        sent = publish(now, max_batches=10_000)
        backlog = time.perf_counter() - started
        started = time.perf_counter()
        idle = publish(now, derive=True)
        idle_seconds = time.perf_counter() - started
    assert sent["unreachable"] is None and sent["events"] == args.directives * 5, sent
    report("feed_throughput", {"events": sent["events"], "audit_rows": sent["audit_rows"],
            "seconds": round(backlog, 2), "events_per_second": round(sent["events"] / backlog),
            "idle_call_ms": round(idle_seconds * 1000, 1), "idle_events": idle["events"]})


if __name__ == "__main__":
    main()
