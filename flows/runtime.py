"""Helpers for running flows cheaply and naming them well."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from prefect import get_client
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from models.settings import get_settings
from models.calendar.timerules import wall_clock


@contextmanager
def in_process_subflows() -> Iterator[None]:
    """Run subflows without heartbeats.

    A heartbeat thread costs each flow run about 0.85 s at exit (it sleeps in
    1 s steps, and the engine joins it), while a subflow inside a running
    parent gains nothing from it: the parent's own heartbeat already tells a
    crash. Measured here: 5 subflows take 5.5 s with heartbeats, 0.7 s without.
    """
    if PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None:
        # Already so (serve runs every action this way): a new settings object costs about 50 ms of validation.
        yield
        return
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def directive_tags(slug: str, agencies: Iterable[str] = ()) -> list[str]:
    return [f"directive:{slug}", *(f"agency:{code}" for code in dict.fromkeys(agencies))]


def label_current_run(extra_tags: Iterable[str], name: str | None = None) -> None:
    """Tag (and rename) the running flow run once its subject is known, e.g. after parsing a file.

    Tags go on the flow run only. A ``tags()`` context would also tag every
    task run inside, and each tagged task run asks the server for tag
    concurrency slots; on a SQLite server that call answered 503 here and
    cost about 2 s of client retries per task.
    """
    context = FlowRunContext.get()
    current = context.flow_run if context else None
    if current is None:
        return
    # The engine's own copy of the run is current: only this function changes a run's name and tags, and
    # it keeps that copy in step. One call instead of a read and a write: a launch labels six runs.
    current.name, current.tags = name or current.name, sorted({*current.tags, *extra_tags})
    with get_client(sync_client=True) as client:
        client.update_flow_run(current.id, name=current.name, tags=current.tags)


def resolve_now(now: datetime | None) -> datetime:
    """The explicit ``now`` if given, else the real clock in the business timezone."""
    if now is not None:
        if now.tzinfo is None:
            return now.replace(tzinfo=get_settings().tz)
        return now
    return wall_clock(get_settings().tz)


# A shell that wants to draw progress (Rich, on a terminal) sets this around a flow call; flows report
# through it without knowing who listens. It is never a flow parameter: it is not data.
progress_listener: ContextVar[Callable[[int, int], None] | None] = ContextVar("progress_listener", default=None)


# Who wants a launch's result as soon as it is committed (serve's endpoint: the coordinator's answer need
# not wait for the UI's per-assignment runs, about 2 s of Prefect round trips).
stored_listener: ContextVar[Callable[[dict], None] | None] = ContextVar("stored_listener", default=None)


def report_stored(result: dict) -> None:
    listener = stored_listener.get()
    if listener is not None:
        listener(result)


def report_progress(done: int, total: int) -> None:
    listener = progress_listener.get()
    if listener is not None:
        listener(done, total)
