"""The escalation sweep: send what is due, then refresh the status artifacts and the board."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from prefect import flow

from flows.runtime import resolve_now
from tasks.artifacts import publish_board, publish_statuses
from tasks.feed import publish_events
from tasks.sweep import dispatch, prepare_sweep


def sweep_once(now: datetime, collect: bool = False, *, as_tasks: bool = True, publish: bool = True) -> dict:
    """One sweep as a handful of task runs: one per batch of up to DONDOC_BATCH_SIZE messages, plus three.

    A plain function, so the sweep flow and the simulation share it without
    paying for a subflow run per sweep. With ``as_tasks=False`` the steps run
    as plain calls, inside whatever task runs the sweep (a simulated day);
    ``publish=False`` leaves the status artifacts to the caller. The changes of assignments, with the
    escalations sent and the assignments newly overdue, go to Prefect's event feed (tasks/feed.py).
    """
    prepare, send, refresh, tell = ((prepare_sweep, dispatch, publish_statuses, publish_events) if as_tasks
                                    else (prepare_sweep.fn, dispatch.fn, publish_statuses.fn, publish_events.fn))
    prepared = prepare(now)
    counts: Counter = Counter()
    delivered = 0
    sent: list[dict] = []
    escalated: list[tuple[int, int]] = []
    batches = 0
    while True:
        result = send(now, collect=collect)
        batches += 1
        counts.update(result["counts"])
        delivered += result["delivered"]
        sent.extend(result["sent"])
        escalated.extend(tuple(e) for e in result["escalated"])
        if result["claimed"] < result["limit"] or result["unavailable"]:
            break  # nothing more is due, or the mail server is down: the next batches wait for the next sweep
    told = tell(now, escalated=escalated, derive=True)
    published = refresh(now) if publish else 0
    # The board too, with ``publish``: at least once a business day, and after anything happened.
    boarded = (publish_board if as_tasks else publish_board.fn)(now) if publish else False
    return {
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "retrying": counts.get("retrying", 0),
        "delivered": delivered,  # messages: a row addressed to lead agencies goes out as one per lead, plus a copy
        "smtp_unavailable": result["unavailable"],  # why the sweep stopped early, if it did
        "batches": batches,
        "digests_planned": prepared["digests"],
        "opened": prepared["opened"],  # occurrences of recurring reports whose period opened
        "cancelled": prepared["cancelled"],
        # Superseded while nothing was sent, or while waiting for a retry: not sent late (models.lifecycle.ladder.superseded).
        "skipped": prepared["skipped"] + counts.get("skipped", 0),
        "artifacts": published,
        "events": told["events"],  # sent to Prefect's event feed (dondoc.assignment.*)
        "board": boarded,
        "messages": sent,
    }


@flow(name="escalation-sweep", flow_run_name="sweep")
def escalation_sweep(now: datetime | None = None) -> dict:
    """Quét hộp thư đi: gửi mọi thư đến hạn (giao việc, nhắc hạn, đôn đốc, báo cáo) và cập nhật bảng tình hình.

    Args:
        now: Thời điểm quét; bỏ trống là giờ thực.
    """
    return sweep_once(resolve_now(now))
