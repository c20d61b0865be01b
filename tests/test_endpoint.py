"""The local coordinator endpoint: CLI commands that change state ask a running serve, which runs the flow.

The protocol's refusals are tested in this process against a real socket; one test runs a real serve and
real CLI processes, then kills serve with -9.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dondoc import endpoint
from dondoc.cli import app
from tests.conftest import SEED

SLUG = "2550-stttt-bctt"
MISSING = {"slug": "no-such", "key": "x", "status": "done", "evidence": None, "evidence_on": None, "note": None,
           "by": "t", "now": "2020-12-01T09:00+07:00"}


@pytest.fixture
def coordinator(tmp_path, monkeypatch):
    """serve's endpoint alone, in this process, on a fresh SQLite database."""
    from dondoc.coordinator import CoordinatorEndpoint

    url = f"sqlite:///{tmp_path / 'dondoc.db'}"
    monkeypatch.setenv("DONDOC_DATABASE_URL", url)
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    lines: list[str] = []
    server = CoordinatorEndpoint(endpoint.socket_path(tmp_path / "state"), endpoint.database_fingerprint(url),
                                 log=lines.append)
    server.start()
    server.ready.set()
    yield server
    server.stop()


def test_an_error_raised_in_serve_is_the_clis_one_line_and_exit_code(coordinator):
    reply = endpoint.ask(coordinator.path, "record", MISSING, database=coordinator.database)
    assert reply["error"]["type"] == "NotFound" and reply["error"]["exit_code"] == 1
    result = CliRunner().invoke(app, ["record", "no-such/x", "--status", "done"])
    assert result.exit_code == 1
    assert "không tìm thấy" in result.stderr.lower() or "no-such" in result.stderr
    assert "Traceback" not in result.output and "Gợi ý" not in result.stderr  # answered by serve


def test_a_definition_refused_in_serve_lists_every_problem_and_exits_2(coordinator, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SEED.read_text(encoding="utf-8").replace("lead:", "leed:", 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["launch", str(bad)])
    assert result.exit_code == 2, result.output
    assert "định nghĩa không hợp lệ" in result.stderr and str(bad) in result.stderr


def test_serve_refuses_another_database_a_bad_request_and_an_unknown_action(coordinator):
    other = endpoint.ask(coordinator.path, "record", MISSING, database="0" * 32)
    assert other["error"]["type"] == "OtherDatabase"
    unknown = endpoint.ask(coordinator.path, "drop_everything", {}, database=coordinator.database)
    assert unknown["error"]["type"] == "BadRequest" and unknown["error"]["exit_code"] == 2
    wrong = endpoint.ask(coordinator.path, "record", {**MISSING, "extra": 1}, database=coordinator.database)
    assert wrong["error"]["exit_code"] == 2
    with endpoint.connect(coordinator.path) as sock:
        sock.sendall(b"not json\n")
        assert json.loads(sock.makefile("rb").readline())["error"]["type"] == "BadRequest"


def test_an_action_may_answer_early_and_serve_lets_it_finish_before_stopping(coordinator, monkeypatch):
    from dondoc import actions

    release, finished = threading.Event(), threading.Event()

    def tail(*, progress=None, answer=None):  # a launch's shape: committed, then more to show in the UI
        answer({"slug": "s"})
        release.wait(30)
        finished.set()
        return {"slug": "s"}

    monkeypatch.setitem(actions.ACTIONS, "tail", tail)
    assert endpoint.ask(coordinator.path, "tail", {}, database=coordinator.database) == {"result": {"slug": "s"}}
    assert not finished.is_set()  # the CLI had its answer while the action went on
    reserved = endpoint.ask(coordinator.path, "tail", {"answer": 1}, database=coordinator.database)
    assert reserved["error"]["exit_code"] == 2  # serve's own keywords cannot come from a request
    threading.Timer(0.5, release.set).start()
    coordinator.stop()  # waits for the tail
    assert finished.is_set()


def test_a_cli_on_another_database_does_not_use_this_serve(coordinator, prefect_server, tmp_path, monkeypatch):
    from models.store.db import transaction
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.calendar.timerules import TimeRules
    from datetime import datetime
    from zoneinfo import ZoneInfo

    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    with transaction() as session:  # the directive is in the CLI's database only: serve would not find it
        launch_directive(session, loaded=load_directive_file(SEED), rules=TimeRules(), actor="t",
                         now=datetime(2020, 11, 30, 9, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    result = CliRunner().invoke(app, ["record", f"{SLUG}/permit-review", "--status", "acknowledged",
                                      "--now", "2020-12-01T09:00+07:00"])
    assert result.exit_code == 0, result.output
    assert "dùng cơ sở dữ liệu khác" in result.stderr


def test_a_second_serve_on_the_same_state_dir_is_refused(coordinator):
    from dondoc.coordinator import CoordinatorEndpoint
    from models.errors import InUse

    with pytest.raises(InUse) as refused:
        CoordinatorEndpoint(coordinator.path, coordinator.database)
    assert refused.value.exit_code == 2 and str(coordinator.path) in str(refused.value)
    assert endpoint.ask(coordinator.path, "record", MISSING, database=coordinator.database)["error"]  # still serving


@pytest.mark.skipif(os.getuid() != 0, reason="connecting as another user needs root to switch user")
def test_only_the_same_user_may_use_the_socket():
    import shutil
    import tempfile

    from dondoc.coordinator import CoordinatorEndpoint

    folder = Path(tempfile.mkdtemp(prefix="dondoc-sock-", dir="/tmp"))  # pytest's tmp_path is closed to others
    folder.chmod(0o755)  # a folder others may enter: only the socket's own checks stand in their way
    coordinator = CoordinatorEndpoint(folder / "serve.sock", "x" * 32)
    coordinator.start()
    coordinator.ready.set()
    try:
        _only_the_same_user(coordinator)
    finally:
        coordinator.stop()
        shutil.rmtree(folder)


def _only_the_same_user(coordinator) -> None:
    assert stat.S_IMODE(coordinator.path.stat().st_mode) == 0o600

    def as_nobody() -> str:
        """A forked child that becomes nobody, then tries the socket (nobody may not exec this venv's python)."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no pytest, no threads of ours; just the syscalls
            outcome = b"answered"
            try:
                os.setgid(65534)
                os.setuid(65534)
                probe = socket.socket(socket.AF_UNIX)
                probe.settimeout(10)
                probe.connect(str(coordinator.path))
                probe.sendall(b"{}\n")
                if probe.recv(100) == b"":
                    outcome = b"closed"
            except PermissionError:
                outcome = b"refused"
            except (ConnectionResetError, BrokenPipeError):  # closed with our request unread, or before it was sent
                outcome = b"closed"
            except BaseException:
                outcome = b"error"
            os.write(write, outcome)
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as pipe:
            return pipe.read().decode()

    assert as_nobody() == "refused"  # the file's mode
    coordinator.path.chmod(0o666)
    assert as_nobody() == "closed"  # and, were the mode ever wrong, the peer's uid


def test_a_serve_gone_silent_is_an_unknown_outcome_not_a_hang(tmp_path, monkeypatch):
    """A serve stopped mid-action (SIGSTOP, a hung flow): the CLI gives up after the silence limit, says so."""
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'dondoc.db'}")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(endpoint, "SILENCE_LIMIT", 1.0)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(endpoint.socket_path(tmp_path)))
    listener.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    try:
        result = CliRunner().invoke(app, ["record", f"{SLUG}/permit-review", "--status", "done"])
    finally:
        listener.close()
    assert result.exit_code == 1
    assert "ngừng trả lời giữa chừng" in result.stderr and "dondoc events" in result.stderr


def _cli(env, *args, timeout=180):
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "dondoc", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_commands_run_in_serve_and_fall_back_when_it_is_killed(prefect_server, tmp_path, free_port):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "DONDOC_DATABASE_URL":
           f"sqlite:///{tmp_path / 'dondoc.db'}", "DONDOC_STATE_DIR": str(tmp_path / "state"),
           "DONDOC_SMTP_PORT": "9"}
    serve = subprocess.Popen([sys.executable, "-m", "dondoc", "serve", "--no-clock", "--port", str(free_port())],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: "Ctrl-C" in _peek(serve), serve)
        from prefect.client.schemas.filters import FlowRunFilterTags

        def launch_runs() -> dict[str, str]:  # other tests of the session launch the seed on this server too
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"directive:{SLUG}"])))
            return {str(r.id): r.state.type.value for r in runs}

        before = launch_runs()
        launched = _cli(env, "launch", str(SEED), "--now", "2020-11-30T09:00+07:00")
        assert launched.returncode == 0, launched.stderr
        assert launched.stdout.strip().endswith(SLUG)
        # serve answered once the directive was committed; the UI's runs follow: the launch and one per assignment
        _wait_for(lambda: [state for run, state in launch_runs().items() if run not in before] == ["COMPLETED"] * 6,
                  serve, timeout=60)
        recorded = _cli(env, "record", f"{SLUG}/network-transition", "--status", "acknowledged",
                        "--now", "2020-12-01T09:00+07:00")
        assert recorded.returncode == 0, recorded.stderr
        report = tmp_path / "bao-cao.md"
        reported = _cli(env, "report", SLUG, "--format", "md", "-o", str(report), "--now", "2020-12-01T10:00+07:00")
        assert reported.returncode == 0, reported.stderr
        assert "ỦY BAN NHÂN DÂN TỈNH LONG AN" in report.read_text(encoding="utf-8")
        assert "còn được hiển thị" not in reported.stderr
        for done in (launched, recorded, reported):
            assert "prefect" not in _imported(done.stderr)  # the CLI asked serve; serve ran the flow
            assert "Gợi ý" not in done.stderr
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(
                any_=[f"record · {SLUG}/network-transition → acknowledged"])))
            artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
                any_=[f"report-{SLUG}"])))
        assert [r.state.type.value for r in runs] == ["COMPLETED"]  # in the UI, as a flow run of its own
        assert any("bao-cao.md" in (a.description or "") for a in artifacts)  # the report, shown in the UI too

        # simulate and demo, on databases of their own, borrow serve's Prefect server and show in its UI
        borrowed = endpoint.ask(endpoint.socket_path(tmp_path / "state"), "prefect_api", {}, database="0" * 32)
        assert borrowed["result"]["api_url"] == PREFECT_API_URL.value()

        again = subprocess.run([sys.executable, "-m", "dondoc", "serve", "--no-clock", "--port", str(free_port())],
                               env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 2 and "đang chạy" in again.stderr and "Traceback" not in again.stderr

        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=30)
        assert endpoint.socket_path(tmp_path / "state").exists()  # left behind, refusing connections
        fallback = _cli(env, "record", f"{SLUG}/network-transition", "--status", "in_progress",
                        "--now", "2020-12-02T09:00+07:00")
        assert fallback.returncode == 0, fallback.stderr
        assert "không trả lời" in fallback.stderr and "prefect" in _imported(fallback.stderr)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


_seen: dict[int, str] = {}


def _peek(process: subprocess.Popen) -> str:
    """What a child wrote on stderr so far, without blocking on a pipe that stays open."""
    import fcntl

    fd = process.stderr.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        chunk = b""
    _seen[process.pid] = _seen.get(process.pid, "") + chunk.decode("utf-8", "replace")
    return _seen[process.pid]


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, _peek(process)
        assert time.monotonic() < deadline, _peek(process)
        time.sleep(0.2)


@pytest.fixture
def free_port():
    def pick() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    return pick


def test_a_long_state_dir_still_gets_its_socket(tmp_path, monkeypatch):
    """sun_path holds 108 bytes; a deep DONDOC_STATE_DIR is reached through the folder's descriptor."""
    from dondoc.coordinator import CoordinatorEndpoint

    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 5))
    assert len(str(endpoint.socket_path(deep))) > 108
    server = CoordinatorEndpoint(endpoint.socket_path(deep), "x" * 32)
    server.start()
    server.ready.set()
    try:
        assert endpoint.ask(server.path, "record", MISSING, database="0" * 32)["error"]["type"] == "OtherDatabase"
    finally:
        server.stop()
    assert not endpoint.socket_path(deep).exists()


def test_database_fingerprint_tells_relative_sqlite_paths_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = endpoint.database_fingerprint("sqlite:///dondoc.db")
    assert here == endpoint.database_fingerprint(f"sqlite:///{tmp_path / 'dondoc.db'}")
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "b")
    assert endpoint.database_fingerprint("sqlite:///dondoc.db") != here
    assert "secret" not in endpoint.database_fingerprint("postgresql://u:secret@h/db")


def test_serve_starts_its_own_prefect_server_and_it_dies_with_serve(tmp_path, free_port):
    """No PREFECT_API_URL: serve runs Prefect's server (UI and API) as its child, with its data in the state dir;
    the start-up sweep still runs after that slow start; a serve killed with -9 takes the server with it."""
    import urllib.request

    env = {name: value for name, value in os.environ.items() if name not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env.update({"DONDOC_DATABASE_URL": f"sqlite:///{tmp_path / 'dondoc.db'}", "DONDOC_STATE_DIR": str(tmp_path / "state"),
                "DONDOC_SMTP_PORT": "9"})
    ui = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "dondoc", "serve", "--port", str(free_port()), "--prefect-port",
                              str(ui)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: "Quét: gửi 0 thông báo" in _peek(serve), serve, timeout=240)
        assert f"Prefect UI: http://127.0.0.1:{ui}" in _peek(serve)
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()  # the UI, not only the API
        assert (tmp_path / "state" / "prefect" / "prefect.db").exists()
        children = subprocess.run(["pgrep", "-P", str(serve.pid)], capture_output=True, text=True).stdout.split()
        assert children
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # PR_SET_PDEATHSIG
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
