"""The coordinator's actions that change state, run where Prefect already is.

Each action takes and returns plain JSON values, so the very same function runs in two places:
- inside a running ``dondoc serve``, asked over the local endpoint (dondoc/endpoint.py): the CLI stays
  small and never imports Prefect, and the flow run shows in serve's Prefect UI as it always did;
- in the CLI's own process when no serve answers (the slow path: Prefect starts for one command).

Every action first rehearses its write with the rules that will apply, so a refusal is one line and
never a failed flow run; then it runs the same Prefect flow as before.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

from dondoc import endpoint
from models.errors import DefinitionError, DondocError, InputError

Progress = Callable[[int, int], None] | None

# One sweep at a time in a process: serve's start-up sweep, its interval and 08:00 jobs, and sweeps asked for
# through the endpoint. APScheduler's max_instances keeps one job from overlapping itself, not the jobs from
# overlapping each other. (Sweeps of other processes are kept apart by the outbox's lease.)
SWEEPING = threading.Lock()


class _SlowPath:
    """What the CLI's process says when it runs an action itself (never set inside serve)."""

    active = False
    before: str | None = None  # why serve did not run it (gone, another database): said once the action is known good
    after: str | None = None  # how to make it fast: said after the command's own lines, on success


def _to_prefect() -> None:
    """Just before a flow, in the CLI's own process: Prefect's logs stay off the terminal; say why it is slow."""
    if _SlowPath.active:
        from dondoc.app import err, prefect_ready

        prefect_ready()
        if _SlowPath.before:
            err.print(_SlowPath.before, markup=False, highlight=False)
            _SlowPath.before = None


def _now(text: str | None):
    from dondoc.timeargs import parse_now
    from models.settings import get_settings

    return parse_now(text, get_settings().tz)


def _date(text: str | None, option: str):
    from dondoc.timeargs import parse_date

    return parse_date(text, option)


def _plain(result: Any) -> Any:
    """What a result looks like after a trip through the endpoint, so both paths print the same."""
    return json.loads(json.dumps(result, ensure_ascii=False, default=str))


def launch_one(*, path: str, now: str | None, by: str, progress: Progress = None,
               answer: Callable[[dict], None] | None = None) -> dict:
    """Launch one file. ``answer``, if given, gets the result as soon as the directive is committed: serve
    answers the CLI then, and opens the per-assignment runs in the UI after (about 2 s of Prefect calls)."""
    from models.store.db import rehearsal
    from models.lifecycle.launch import launch_directive as launch_rows
    from models.definition.loader import load_directive_file
    from models.settings import get_settings
    from models.calendar.timerules import TimeRules
    from pathlib import Path

    settings = get_settings()
    moment = _now(now)
    loaded = load_directive_file(Path(path))
    with rehearsal(settings) as session:
        launch_rows(session, loaded=loaded, now=moment, rules=TimeRules.from_settings(settings), actor=by)
    _to_prefect()
    from flows.launch import launch_directive
    from flows.runtime import stored_listener

    token = stored_listener.set((lambda result: answer(_plain(result))) if answer else None)
    try:
        return _plain(launch_directive(path=path, now=moment, actor=by))
    finally:
        stored_listener.reset(token)


def launch_many(*, paths: list[str], now: str | None, by: str, progress: Progress = None) -> dict:
    moment = _now(now)
    _to_prefect()
    from flows.launch import launch_directives
    from flows.runtime import progress_listener

    token = progress_listener.set(progress)
    try:
        return _plain(launch_directives(paths=paths, now=moment, actor=by, label=f"{len(paths)} tệp"))
    finally:
        progress_listener.reset(token)


def record(*, slug: str, key: str, status: str, evidence: str | None, evidence_on: str | None, note: str | None,
           by: str, now: str | None, progress: Progress = None) -> dict:
    from models.store.db import rehearsal
    from models.settings import get_settings
    from models.calendar.timerules import TimeRules
    from models.lifecycle.updates import record_update as record_rows

    settings = get_settings()
    moment = _now(now)
    evidence_day = _date(evidence_on, "--evidence-date")
    with rehearsal(settings) as session:
        record_rows(session, slug=slug, key=key, status=status, now=moment, rules=TimeRules.from_settings(settings),
                    actor=by, evidence=evidence, evidence_on=evidence_day, note=note)
    _to_prefect()
    from flows.record import record_update

    return _plain(record_update(slug=slug, key=key, status=status, evidence=evidence, evidence_on=evidence_day,
                                note=note, actor=by, now=moment))


def extend(*, slug: str, key: str, approve: bool, reason: str, until: str | None, by: str, now: str | None,
           progress: Progress = None) -> dict:
    from models.store.db import rehearsal
    from models.lifecycle.extensions import decide_extension as decide_rows
    from models.settings import get_settings
    from models.calendar.timerules import TimeRules

    settings = get_settings()
    moment = _now(now)
    new_due = _date(until, "--until")
    with rehearsal(settings) as session:
        decide_rows(session, slug=slug, key=key, approve=approve, reason=reason, until=new_due, now=moment,
                    rules=TimeRules.from_settings(settings), actor=by)
    _to_prefect()
    from flows.record import decide_extension

    return _plain(decide_extension(slug=slug, key=key, approve=approve, reason=reason, until=new_due, actor=by,
                                   now=moment))


def review(*, slug: str, key: str, accept: bool, reason: str | None, until: str | None, by: str, now: str | None,
           progress: Progress = None) -> dict:
    from models.calendar.timerules import TimeRules
    from models.lifecycle.review import review_result as review_rows
    from models.settings import get_settings
    from models.store.db import rehearsal

    settings = get_settings()
    moment = _now(now)
    new_due = _date(until, "--until")
    with rehearsal(settings) as session:
        review_rows(session, slug=slug, key=key, accept=accept, reason=reason, until=new_due, now=moment,
                    rules=TimeRules.from_settings(settings), actor=by)
    _to_prefect()
    from flows.record import review_result

    return _plain(review_result(slug=slug, key=key, accept=accept, reason=reason, until=new_due, actor=by, now=moment))


def reassign(*, slug: str, key: str, reason: str, leads: list[str] | None, supporting: list[str] | None,
             until: str | None, keep: bool, by: str, now: str | None, progress: Progress = None) -> dict:
    from models.calendar.timerules import TimeRules
    from models.lifecycle.refusal import reassign as reassign_rows
    from models.settings import get_settings
    from models.store.db import rehearsal

    settings = get_settings()
    moment = _now(now)
    new_due = _date(until, "--until")
    with rehearsal(settings) as session:
        reassign_rows(session, slug=slug, key=key, reason=reason, leads=leads, supporting=supporting, until=new_due,
                      keep=keep, now=moment, rules=TimeRules.from_settings(settings), actor=by)
    _to_prefect()
    from flows.record import reassign_assignment

    return _plain(reassign_assignment(slug=slug, key=key, reason=reason, leads=leads, supporting=supporting,
                                      until=new_due, keep=keep, actor=by, now=moment))


def report(*, slug: str, format: str, output: str | None, now: str | None, progress: Progress = None) -> dict:
    from models.store.db import transaction
    from models.lifecycle.queries import get_directive

    moment = _now(now)
    with transaction() as session:
        get_directive(session, slug=slug)
    _to_prefect()
    from flows.report import produce_report

    return _plain(produce_report(slug=slug, format=format, output=output, now=moment))


def sweep(*, now: str | None, progress: Progress = None) -> dict:
    moment = _now(now)
    _to_prefect()
    from flows.sweep import escalation_sweep

    with SWEEPING:  # in serve, after any sweep of the clock's still running: they would only share the work
        result = escalation_sweep(now=moment)
    return _plain({k: v for k, v in result.items() if k != "messages"})


def prefect_api(*, progress: Progress = None) -> dict:
    """The Prefect server serve uses: commands that run flows here (simulate, demo) show in the same UI."""
    return {"api_url": os.environ.get("PREFECT_API_URL")}


ACTIONS: dict[str, Callable[..., dict]] = {
    "launch_one": launch_one, "launch_many": launch_many, "record": record, "extend": extend, "review": review,
    "reassign": reassign, "report": report,
    "sweep": sweep, "prefect_api": prefect_api,
}
ANY_DATABASE = {"prefect_api"}  # actions that touch no database, asked for by commands on a database of their own


# ---- the CLI's side -------------------------------------------------------------------------------------------

class RemoteDefinitionError(DefinitionError):
    """A definition refused by serve: its problems arrive as lines, already located."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        InputError.__init__(self, "\n".join(problems))


def raise_remote(error: dict) -> None:
    if error.get("problems"):
        raise RemoteDefinitionError([str(p) for p in error["problems"]])
    exc = DondocError(str(error.get("message", "")))
    exc.exit_code = int(error.get("exit_code", 1))
    raise exc


def describe(exc: BaseException) -> dict:
    """An error raised by an action, as serve sends it back."""
    if isinstance(exc, DefinitionError):
        return {"type": "DefinitionError", "message": str(exc), "exit_code": exc.exit_code,
                "problems": [str(p) for p in exc.problems]}
    if isinstance(exc, DondocError):
        return {"type": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}
    return {"type": "unexpected", "message": f"{type(exc).__name__}: {exc}", "exit_code": 1}


def borrow_prefect() -> str | None:
    """Point this process at the running serve's Prefect server, if there is one and none is set.

    simulate and demo run their flows here (their database and mailbox are their own), but their runs and
    artifacts belong in the UI a coordinator already has open, and a temporary server costs seconds.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    from models.settings import get_settings

    settings = get_settings()
    try:
        reply = endpoint.ask(endpoint.socket_path(settings.state_dir), "prefect_api", {},
                             database=endpoint.database_fingerprint(settings.database_url))
    except (endpoint.Unreachable, endpoint.Broken):
        return None
    url = (reply.get("result") or {}).get("api_url")
    if url:
        os.environ["PREFECT_API_URL"] = url
    return url


def perform(action: str, params: dict[str, Any], *, progress: Progress = None,
            fallback: Callable[..., dict] | None = None) -> dict:
    """Run ``action`` in a running serve if one answers for this database, else here, in this process.

    ``fallback`` is what to run here instead of the action's flow, for actions whose result needs no Prefect
    (a report to a file): then nothing is slow, and nothing is said.
    """
    from models.settings import get_settings

    settings = get_settings()
    path = endpoint.socket_path(settings.state_dir)
    try:
        reply = endpoint.ask(path, action, params, database=endpoint.database_fingerprint(settings.database_url),
                             on_progress=progress)
    except endpoint.Unreachable as exc:
        if exc.stale:
            _SlowPath.before = f"dondoc serve không trả lời tại {path} (đã dừng?); lệnh chạy trực tiếp, chậm hơn."
        else:
            _SlowPath.after = ("Gợi ý: chạy `dondoc serve` (một lần, trong cửa sổ khác) để các lệnh chạy nhanh: "
                               "không phải khởi động Prefect mỗi lần.")
    except endpoint.Broken as exc:
        raise DondocError(f"dondoc serve ngừng trả lời giữa chừng ({exc}); hãy xem `dondoc events` trước khi "
                          "chạy lại lệnh, vì việc có thể đã được thực hiện") from None
    else:
        if "error" in reply:
            if reply["error"].get("type") == "OtherDatabase":
                _SlowPath.before = f"dondoc serve tại {path} dùng cơ sở dữ liệu khác; lệnh chạy trực tiếp, chậm hơn."
            else:
                raise_remote(reply["error"])
        else:
            return reply["result"]
    if fallback is not None:
        _SlowPath.before = _SlowPath.after = None
        return fallback(**params)
    _SlowPath.active = True
    try:
        return ACTIONS[action](**params, progress=progress)
    finally:
        _SlowPath.active, _SlowPath.before = False, None


def say_how_to_be_fast() -> None:
    """The slow path's hint, once, after the command's own lines; the shell calls it when it is done."""
    hint, _SlowPath.after = _SlowPath.after, None
    if hint:
        from dondoc.app import err

        err.print(hint, markup=False, highlight=False)
