"""Wall time of the coordinator's commands, each beside `python -c "import sqlmodel"` measured in the same run.

    .venv/bin/python bench/cli_latency.py [--runs 5] [--json]

Goal (issue 11): `dondoc --help`, `dondoc status SLUG` and `dondoc events SLUG`
take at most 1.3× `import sqlmodel`. The machine's speed varies from minute to
minute, so a figure means something only beside the baseline: the runs are
interleaved (one of each row per round, the baseline first) and each row is
given as the median of its runs and that median over the baseline's.

Each command is a fresh `python -m dondoc …` process on a temporary database
(DONDOC_DATABASE_URL, DONDOC_STATE_DIR) holding the seed directive, launched
with models.lifecycle.launch directly (no Prefect). Bytecode is cached as an installed
dondoc's would be (in a temporary PYTHONPYCACHEPREFIX, even where
PYTHONDONTWRITEBYTECODE is set), and a first unmeasured run of each row fills
that cache and the disk cache. A row may need something running
around it (a `dondoc serve`): its ``setup`` is a context manager entered once
for its group of rows, which gets its own baseline runs inside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = ROOT / "directives" / "2550-STTTT-BCTT.yaml"
SLUG = "2550-stttt-bctt"
BASELINE = "python -c \"import sqlmodel\""


@dataclass
class Bench:
    """What the rows run against: a temporary folder and the environment of every child process."""

    work: Path
    env: dict[str, str]
    slug: str = SLUG


@dataclass
class Row:
    label: str
    # What follows `python`: a list, or a function of (bench, run number) for a command that cannot repeat itself
    # (a second `launch` of one file is refused).
    argv: list[str] | Callable[[Bench, int], list[str]]
    # Entered once around the row's runs; yields extra environment variables (a serve's address, say). Rows
    # sharing a setup (the same function) are measured together, with their own baseline runs inside it.
    setup: Callable[[Bench], contextlib.AbstractContextManager[dict[str, str]]] | None = None
    goal: float | None = None  # at most this many times the baseline
    times: list[float] = field(default_factory=list)  # wall seconds, one a run
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process, one a run


def dondoc(*args: str) -> list[str]:
    return ["-m", "dondoc", *args]


def rows(bench: Bench) -> list[Row]:
    """The table, in order. Add a row here, with a ``setup`` for what must run around it; for instance

        Row("dondoc record … (serve running)", dondoc("record", f"{slug}/permit-review", "--status", "in_progress"),
            setup=serve_running, goal=2)

    where ``serve_running(bench)`` is a context manager that starts `dondoc serve` with ``bench.env``, waits for
    its socket and yields ``{}``; the same row without ``setup`` measures the slow path. A `launch` row needs a
    new file each run: ``argv=lambda bench, i: dondoc("launch", str(new_file(bench, i)))`` (``i`` is -1 for the
    unmeasured first run).
    """
    slug, report = bench.slug, str(bench.work / "bao-cao.md")
    record = lambda bench, i: dondoc("record", f"{slug}/permit-review", "--status", "in_progress",  # noqa: E731
                                     "--note", f"lượt {i + 1}")  # progress may be reported again and again
    launch = lambda prefix: lambda bench, i: dondoc("launch", str(new_file(bench, f"{prefix}{i + 1}")))  # noqa: E731
    return [
        Row("dondoc --help", dondoc("--help"), goal=1.3),
        Row("dondoc status SLUG", dondoc("status", slug), goal=1.3),
        Row("dondoc events SLUG", dondoc("events", slug), goal=1.3),
        Row("dondoc outbox SLUG", dondoc("outbox", slug)),
        Row("dondoc report SLUG -o FILE --format md", dondoc("report", slug, "-o", report, "--format", "md")),
        Row("dondoc record … (serve running)", record, setup=serve_running, goal=2),
        Row("dondoc launch FILE (serve running)", launch("S"), setup=serve_running, goal=3),
        Row("dondoc record … (no serve: temporary Prefect server)", record, setup=no_serve),
        Row("dondoc launch FILE (no serve: temporary Prefect server)", launch("T"), setup=no_serve),
    ]


def new_file(bench: Bench, prefix: str) -> Path:
    """A directive of five assignments not launched before (a second launch of one number is refused)."""
    from dondoc.testing import write_directives

    return write_directives(bench.work / "directives" / prefix, 1, 5, prefix=prefix)[0]


@contextlib.contextmanager
def serve_running(bench: Bench) -> Iterator[dict[str, str]]:
    """`dondoc serve` as a province runs it: its own Prefect server (on a free port here), no clock ticking."""
    import signal
    import socket

    def free() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    log = open(bench.work / "serve.log", "w+", encoding="utf-8")
    serve = subprocess.Popen([sys.executable, "-m", "dondoc", "serve", "--no-clock", "--port", str(free()),
                              "--prefect-port", str(free())], env=bench.env, cwd=bench.work, stdout=log,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while "Ctrl-C" not in (bench.work / "serve.log").read_text(encoding="utf-8"):
            if serve.poll() is not None or time.monotonic() > deadline:
                sys.exit("dondoc serve did not start:\n" + (bench.work / "serve.log").read_text(encoding="utf-8"))
            time.sleep(0.2)
        yield {}
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()


@contextlib.contextmanager
def no_serve(bench: Bench) -> Iterator[dict[str, str]]:
    """No serve and no PREFECT_API_URL: each command starts a temporary Prefect server, as a fresh checkout does."""
    yield {}


@contextlib.contextmanager
def seeded() -> Iterator[Bench]:
    """A temporary database holding the seed directive, and the environment that points at it."""
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        work = Path(folder)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("DONDOC_") and name not in ("PYTHONDONTWRITEBYTECODE", "PREFECT_API_URL")}
        env.update({"DONDOC_DATABASE_URL": f"sqlite:///{work / 'dondoc.db'}", "DONDOC_STATE_DIR": str(work / "state"),
                    "PYTHONPYCACHEPREFIX": str(work / "pycache"),
                    "PREFECT_HOME": str(work / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                    "COLUMNS": "120"})
        from models.store.db import get_engine, open_database, session_scope
        from models.lifecycle.launch import launch_directive
        from models.definition.loader import load_directive_file
        from models.calendar.timerules import TimeRules

        with session_scope(open_database(env["DONDOC_DATABASE_URL"])) as session:
            launch_directive(session, loaded=load_directive_file(SEED), rules=TimeRules(), actor="bench",
                             now=datetime(2020, 11, 30, 9, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
        get_engine(env["DONDOC_DATABASE_URL"]).dispose()
        yield Bench(work=work, env=env)


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run; a failed command stops the bench (its time would mean nothing)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr}")
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def measure(bench: Bench, table: list[Row], runs: int) -> list[tuple[Row, list[Row]]]:
    """Each group of rows sharing a setup, with its baseline row: ``runs`` rounds, the baseline first in each."""
    groups: dict[object, list[Row]] = {}
    for row in table:
        groups.setdefault(row.setup, []).append(row)
    measured = []
    for setup, members in groups.items():
        baseline = Row(BASELINE, ["-c", "import sqlmodel"])
        with (setup(bench) if setup else contextlib.nullcontext({})) as extra:
            env = {**bench.env, **extra}
            timed(["-c", "import sqlmodel"], env, bench.work)  # unmeasured: fills the bytecode and disk caches
            for row in members:
                timed(row.argv(bench, -1) if callable(row.argv) else row.argv, env, bench.work)
            for i in range(runs):
                for row in [baseline, *members]:
                    wall, cpu = timed(row.argv(bench, i) if callable(row.argv) else row.argv, env, bench.work)
                    row.times.append(wall)
                    row.cpu.append(cpu)
        measured.append((baseline, members))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only the rows whose label contains TEXT (repeatable)")
    args = parser.parse_args()
    with seeded() as bench:
        table = [row for row in rows(bench) if not args.only or any(text in row.label for text in args.only)]
        measured = measure(bench, table, args.runs)
    results = []
    for baseline, members in measured:
        base, base_cpu = statistics.median(baseline.times), statistics.median(baseline.cpu)
        for row in [baseline, *members]:
            median, cpu = statistics.median(row.times), statistics.median(row.cpu)
            results.append({"label": row.label, "median_s": round(median, 3), "ratio": round(median / base, 2),
                            "cpu_s": round(cpu, 3), "cpu_ratio": round(cpu / base_cpu, 2), "goal": row.goal,
                            "runs_s": [round(t, 3) for t in row.times],
                            "setup": row.setup.__name__ if row.setup else None})
    if args.json:
        print(json.dumps({"bench": "cli_latency", "runs": args.runs, "rows": results}, ensure_ascii=False))
        return
    width = max(len(r["label"]) for r in results)
    print(f"{'command':<{width}}  wall     × sqlmodel  goal            CPU      × sqlmodel")
    for r in results:
        goal = f"≤ {r['goal']}×" + (" met" if r["ratio"] <= r["goal"] else " missed") if r["goal"] else ""
        print(f"{r['label']:<{width}}  {r['median_s']:5.3f} s  {r['ratio']:9.2f}×  {goal:<14}  "
              f"{r['cpu_s']:5.3f} s  {r['cpu_ratio']:9.2f}×")
    print(f"(medians of {args.runs} interleaved runs; the goal is on wall time, CPU time (user + system) is less "
          f"moved by a busy machine; python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
