"""Launching 1,000 directives of 5 assignments each with one command (goal: ≥ 100 assignments/s).

    .venv/bin/python bench/launch_many.py [--directives 1000] [--postgres URL]

Runs `dondoc launch FOLDER --json` in a subprocess against a real
`prefect server start` (started here unless PREFECT_API_URL is set): one flow
run, one task run per 100 files, then the status artifacts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, prefect_server, report, write_directives  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directives", type=int, default=1000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-launch-"))
    write_directives(work / "directives", args.directives, 5)
    server = nullcontext(os.environ["PREFECT_API_URL"]) if os.environ.get("PREFECT_API_URL") else prefect_server()
    with fresh_database(args.postgres, "launch") as url, server as api:
        env = {**os.environ, "PREFECT_API_URL": api, "DONDOC_DATABASE_URL": url}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dondoc", "launch", str(work / "directives"), "--json",
                               "--now", "2020-11-30T09:00+07:00"], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stderr)
    result = json.loads(done.stdout)
    assignments = sum(item["assignments"] for item in result["launched"])
    report("launch_many", {"backend": "postgresql" if args.postgres else "sqlite", "directives": len(result["launched"]),
                           "assignments": assignments, "seconds": round(seconds, 1),
                           "assignments_per_second": round(assignments / seconds, 1)})


if __name__ == "__main__":
    main()
