"""Time `dondoc simulate` of the Long An seed from 2020-11-30 to 2021-02-26 (goal: ≤ 20 s here).

    .venv/bin/python bench/simulate_seed.py

Runs the real command in a subprocess against a `prefect server start` that this
script starts first (or PREFECT_API_URL, if set), so the figure is the
coordinator's wait, Python start-up included, not Prefect's start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, prefect_server, report  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    server = nullcontext(os.environ["PREFECT_API_URL"]) if os.environ.get("PREFECT_API_URL") else prefect_server()
    with server as api:
        env = {**os.environ, "PREFECT_API_URL": api}
        runs = []
        for i in range(3):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "dondoc", "simulate", str(ROOT / "directives" / "2550-STTTT-BCTT.yaml"),
                 "--from", "2020-11-30T09:00+07:00", "--until", "2021-02-26",
                 "--responses", str(ROOT / "directives" / "2550-STTTT-BCTT.responses.yaml"),
                 "--maildir", str(work / f"maildir-{i}"), "--json"],
                env=env, capture_output=True, text=True, check=True)
            runs.append(time.perf_counter() - started)
            messages = len(json.loads(done.stdout))
    report("simulate_seed", {"seconds_best": round(min(runs), 2), "seconds_runs": [round(r, 2) for r in runs],
                             "messages": messages, "simulated_days": 89, "flow_runs": 1})


if __name__ == "__main__":
    main()
