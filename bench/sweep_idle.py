"""A sweep with nothing due over 1k, 10k and 100k open assignments (goal: 100k costs at most 5× 1k).

    .venv/bin/python bench/sweep_idle.py [--sizes 1000 10000 100000] [--postgres URL]

Rows are written with bulk inserts shaped exactly like a launch's (directives of
5 assignments, each with its planned ladder); then warm-up sweeps (they plan
the day's digests and publish the status artifacts, DONDOC_ARTIFACTS_PER_SWEEP
at a time) until nothing is left to publish, and three timed sweeps at
the same moment, when nothing is due. Each sweep is the real `escalation-sweep`
flow run against a real `prefect server start`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TZ, fresh_database, prefect_server, report  # noqa: E402
from dondoc.testing import populate  # noqa: E402


LAUNCHED = datetime(2021, 3, 1, 9, tzinfo=TZ)
NOW = datetime(2021, 3, 2, 10, tzinfo=TZ)


def prepare(url: str, size: int) -> float:
    """``size`` open assignments written in bulk, then the warm-up sweeps at NOW; the seconds the bulk writes took."""
    os.environ["DONDOC_DATABASE_URL"] = url
    started = time.perf_counter()
    populate(url, size, launched=LAUNCHED)
    populated = time.perf_counter() - started
    from flows.sweep import escalation_sweep

    while True:  # warm-up: today's digests, every first status artifact, the launch's events to Prefect's feed
        warm = escalation_sweep(now=NOW)
        if not warm["artifacts"] and not warm.get("events"):
            break
    return populated


def measure(size: int, postgres: str | None) -> dict:
    with fresh_database(postgres, "idle") as url:
        populated = prepare(url, size)
        from flows.sweep import escalation_sweep

        times = []
        for _ in range(3):
            t = time.perf_counter()
            result = escalation_sweep(now=NOW)
            times.append(time.perf_counter() - t)
            assert result["sent"] == 0 and result["artifacts"] == 0 and result["events"] == 0, result
    return {"backend": "postgresql" if postgres else "sqlite", "open_assignments": size,
            "sweep_seconds": round(statistics.median(times), 3), "populate_seconds": round(populated, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--postgres")
    args = parser.parse_args()
    with prefect_server() as api:
        os.environ["PREFECT_API_URL"] = api
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
        os.environ.setdefault("DONDOC_SMTP_PORT", "1")  # nothing is due: nothing may be sent
        results = [measure(size, args.postgres) for size in args.sizes]
    for item in results:
        report("sweep_idle", item)
    report("sweep_idle_ratio", {"backend": results[0]["backend"],
                                "largest_over_smallest": round(results[-1]["sweep_seconds"] / results[0]["sweep_seconds"], 2)})


if __name__ == "__main__":
    main()
