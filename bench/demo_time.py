"""Time `dondoc demo` as `make demo` runs it: no PREFECT_API_URL, so with its temporary Prefect server (goal: ≤ 30 s).

    .venv/bin/python bench/demo_time.py [--runs 3] [--busy 2]

Each run is the real command in a subprocess, Python start-up included. The
first run starts on an empty PREFECT_HOME (a fresh clone: the temporary server
creates Prefect's database); the others reuse it, as a second `make demo` does.
With --busy N, N busy loops (`python -c "while True: pass"`) load the machine
meanwhile. Printed beside `python -c "import sqlmodel"` timed in the same run,
since the machine's speed varies.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, report  # noqa: E402


def timed(command: list[str], env: dict, cwd: Path, cpu: list[float] | None = None,
          failures: list[str] | None = None) -> float:
    """Wall-clock seconds; ``cpu`` gets the CPU seconds of the command and its children (the Prefect server),
    ``failures`` the last line of a failed run's stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if done.returncode:
        if failures is None:
            raise subprocess.CalledProcessError(done.returncode, command, stderr=done.stderr)
        failures.append((done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300])
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy loops to run meanwhile")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL" and not k.startswith("DONDOC_")}
    env.update(PREFECT_HOME=str(work / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        sqlmodel = [timed([sys.executable, "-c", "import sqlmodel"], env, ROOT) for _ in range(3)]
        cpu: list[float] = []
        failures: list[str] = []
        runs = [timed([sys.executable, "-m", "dondoc", "demo", "--output", str(work / "demo")], env, ROOT, cpu,
                      failures) for _ in range(args.runs)]
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    maildir = work / "demo" / "maildir" / "new"
    messages = len(list(maildir.iterdir())) if maildir.exists() else 0
    report("demo_time", {"busy_loops": args.busy, "seconds_fresh_prefect_home": round(runs[0], 1),
                         "seconds_reused_median": round(statistics.median(runs[1:]), 1) if len(runs) > 1 else None,
                         "seconds_runs": [round(r, 1) for r in runs], "cpu_seconds_runs": [round(c, 1) for c in cpu],
                         "messages": messages, "failed": failures,
                         "import_sqlmodel_seconds": round(statistics.median(sqlmodel), 2)})


if __name__ == "__main__":
    main()
