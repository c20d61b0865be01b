"""Commands that only read start without Prefect and without what they do not use (issue 11).

Each command runs in its own process under ``python -X importtime``, against a
real SQLite database holding the seed (written with models.lifecycle.launch directly: no
Prefect server is needed), and the modules it imported are read from that log.
How fast they start is measured in bench/cli_latency.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"

# Never, in any command that only reads.
SERVERS = {"prefect", "fastapi", "starlette", "uvicorn", "apscheduler", "aiosmtplib", "aiosmtpd", "alembic"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> dict[str, str]:
    """The environment of a child process: a database with the seed launched and one extension request pending."""
    from models.store.db import get_engine, session_scope
    from models.store import migrate
    from models.lifecycle.extensions import request_extension
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.calendar.timerules import TimeRules

    folder = tmp_path_factory.mktemp("fast")
    url = f"sqlite:///{folder / 'dondoc.db'}"
    engine = get_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=datetime(2020, 11, 30, 9, tzinfo=TZ),
                         rules=TimeRules(), actor="coordinator")
    with session_scope(engine) as session:
        request_extension(session, slug=SLUG, key="network-transition", agency="stttt", until=date(2021, 1, 15),
                          reason="Chờ Bộ công bố danh sách 5G", now=datetime(2020, 12, 22, 10, tzinfo=TZ),
                          rules=TimeRules())
    engine.dispose()
    return {**os.environ, "DONDOC_DATABASE_URL": url, "DONDOC_STATE_DIR": str(folder / "state"), "COLUMNS": "200",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "HOME": str(folder)}


def run(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`python -X importtime -m dondoc ARGS`: the finished process, and the top-level packages it imported.

    SQLAlchemy's dialects are named too: a command on SQLite has no use for the PostgreSQL one.
    """
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dondoc", *args], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=120)
    modules = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    imported = {name.split(".")[0] for name in modules} | {name for name in modules if name.startswith("sqlalchemy.dialects.")}
    imported.discard("package")  # the log's own header line
    done.stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return done, imported


# (arguments, text the output must hold, packages it may import beyond the common ones)
READ_ONLY = {
    "help": (["--help"], "launch", set()),
    "status-help": (["status", "--help"], "--json", set()),
    "report-help": (["report", "--help"], "--format", set()),
    "status-all": (["status", "--now", "2021-01-05"], SLUG, {"holidays"}),
    "status": (["status", SLUG, "--now", "2021-01-05"], "permit-review", {"holidays"}),
    "status-json": (["status", SLUG, "--json", "--now", "2021-01-05"], '"overdue_working_days": 2', {"holidays"}),
    "events": (["events", SLUG], "launched", set()),
    "events-key": (["events", f"{SLUG}/permit-review", "--json"], '"kind": "created"', set()),
    "outbox": (["outbox", SLUG], "<notice.20201130.permit-review", set()),
    "outbox-state": (["outbox", "--state", "pending", "--json"], '"state": "pending"', set()),
    "extensions": (["extensions"], "Chờ Bộ công bố danh sách 5G", set()),
    "scorecard": (["scorecard", "--period", "2021-01", "--json", "--now", "2021-02-01"], '"agency": "stttt"',
                  {"holidays"}),
}


@pytest.mark.parametrize("name", list(READ_ONLY))
def test_read_only_commands_load_neither_prefect_nor_what_they_do_not_use(seeded, name):
    args, shown, allowed = READ_ONLY[name]
    done, imported = run(seeded, *args)
    assert done.returncode == 0, done.stderr
    assert shown in done.stdout
    servers = imported & SERVERS
    assert not servers, f"dondoc {' '.join(args)} imported {sorted(servers)}"
    unused = imported & ({"holidays", "jinja2", "docx", "lxml", "ruamel", "email_validator", "icalendar",
                          "sqlalchemy.dialects.postgresql"} - allowed)
    assert not unused, f"dondoc {' '.join(args)} imported {sorted(unused)}, which it does not use"


@pytest.mark.parametrize("fmt", ["md", "docx"])
def test_report_to_a_file_is_written_without_prefect(seeded, tmp_path, fmt):
    target = tmp_path / f"bao-cao.{fmt}"
    done, imported = run(seeded, "report", SLUG, "--format", fmt, "-o", str(target), "--now", "2021-01-20T09:00+07:00")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"Đã lập báo cáo: {target}",
        "Báo cáo còn được hiển thị trên giao diện Prefect khi lập từ biểu mẫu Run hoặc khi dondoc serve đang chạy.",
    ]
    servers = imported & SERVERS
    assert not servers, f"dondoc report imported {sorted(servers)}"
    assert ("docx" in imported) == (fmt == "docx")  # python-docx only for a .docx
    if fmt == "md":
        text = target.read_text(encoding="utf-8")
        assert "Kính gửi: Cục Viễn thông" in text and "Tổng số nhiệm vụ: **5**" in text
    else:
        assert target.read_bytes().startswith(b"PK")
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # written as the report task writes it (mkstemp, then renamed)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind


def test_period_report_is_written_without_prefect(seeded, tmp_path):
    """`dondoc report --period` always writes its file itself, serve or not (docs/reports.md)."""
    target = tmp_path / "ky.md"
    done, imported = run(seeded, "report", "--period", "2020-q4", "--format", "md", "-o", str(target),
                         "--now", "2021-01-20T09:00+07:00")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"Đã lập báo cáo: {target}"]
    assert not imported & SERVERS, f"dondoc report --period imported {sorted(imported & SERVERS)}"
    assert "docx" not in imported
    text = target.read_text(encoding="utf-8")
    assert "Tổng số nhiệm vụ có thời hạn trong kỳ: **4**" in text and "2550/STTTT-BCTT" in text


def test_the_vietnam_calendar_loaded_alone_is_the_librarys(seeded):
    """models.calendar.workdays loads Vietnam's holidays without the ~250 other countries; the days must be the same."""
    import holidays

    code = ("import json, sys; from models.calendar.workdays import public_holidays; h = public_holidays('VN'); "
            "[h.get(f'{y}-01-01') for y in range(2015, 2041)]; "
            "assert 'holidays.countries' not in sys.modules, 'the shortcut was not taken'; "
            "print(json.dumps({d.isoformat(): n for d, n in sorted(h.items())}, ensure_ascii=False))")
    done = subprocess.run([sys.executable, "-c", code], env=seeded, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    library = holidays.country_holidays("VN", years=range(2015, 2041))
    assert json.loads(done.stdout) == {d.isoformat(): n for d, n in sorted(library.items())}


def test_the_head_revision_read_from_the_files_is_alembics():
    from models.store import migrate

    assert migrate.head_from_files() == migrate.head()


def test_a_fresh_database_is_created_and_an_older_one_refused_until_upgraded(tmp_path, monkeypatch):
    """The schema check without Alembic changes nothing: fresh → created, older → refused, `db upgrade` → usable."""

    from dondoc.cli import app
    from models.store import migrate
    from models.store.db import get_engine

    runner = CliRunner()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DONDOC_DATABASE_URL", fresh)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and "Chưa có văn bản nào" in result.stderr
    assert migrate.stored_revisions(get_engine(fresh)) == [migrate.head()]

    older = f"sqlite:///{tmp_path / 'older.db'}"
    engine = get_engine(older)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "fcf1885f055d")
    monkeypatch.setenv("DONDOC_DATABASE_URL", older)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Lỗi: cơ sở dữ liệu ở phiên bản fcf1885f055d, cần {migrate.head()}: "
                                     "chạy `dondoc db upgrade`")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and "Chưa có văn bản nào" in result.stderr
