"""Peak memory of a sweep dispatching 100k due notifications, against 1k (goal: ≤ 1.5×).

    .venv/bin/python bench/dispatch_memory.py [--sizes 1000 100000] [--postgres URL]

For each size: a fresh database holding that many due reminders (bulk rows shaped
like a launch's), then one `escalation-sweep` flow run in a child process of its
own, against a real `prefect server start`, delivering to a local SMTP sink that
discards. The child reports its peak resident memory (ru_maxrss) and its resident
memory just before the sweep, once Python, Prefect and dondoc are imported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TZ, fresh_database, prefect_server, report, sink  # noqa: E402

LAUNCHED = datetime(2021, 3, 1, 9, tzinfo=TZ)
SWEEP_AT = datetime(2021, 3, 2, 10, tzinfo=TZ)
PER_ASSIGNMENT = 10


def child() -> None:
    """The measured process: one sweep, then its figures as JSON on stdout."""
    from flows.sweep import escalation_sweep
    from models.store.db import open_database

    open_database(os.environ["DONDOC_DATABASE_URL"])
    before = _rss_kib()
    started = time.perf_counter()
    result = escalation_sweep(now=SWEEP_AT)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"sent": result["sent"], "failed": result["failed"], "batches": result["batches"],
                      "rss_before_mib": round(before / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
                      "seconds": round(seconds, 1)}))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0




def measure(size: int, postgres: str | None, api: str) -> dict:
    from dondoc.testing import plan_due_rows, populate

    with fresh_database(postgres, "memory") as url:
        os.environ["DONDOC_DATABASE_URL"] = url
        populate(url, max(5, size // PER_ASSIGNMENT), launched=LAUNCHED)
        planned = plan_due_rows(None, PER_ASSIGNMENT, LAUNCHED)
        with sink() as (port, counts):
            env = {**os.environ, "PREFECT_API_URL": api, "DONDOC_SMTP_PORT": str(port),
                   "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}
            done = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {"backend": "postgresql" if postgres else "sqlite", "due": planned, **figures,
            "received": counts["received"], "distinct_message_ids": counts["distinct"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--postgres", help="a PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    with prefect_server() as api:
        results = [measure(size, args.postgres, api) for size in args.sizes]
    for item in results:
        report("dispatch_memory", item)
    report("dispatch_memory_ratio", {"backend": results[0]["backend"],
                                     "peak_largest_over_smallest": round(results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"], 2)})


if __name__ == "__main__":
    main()
