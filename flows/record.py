"""Coordinator actions on one assignment: record an update, decide an extension, review a reported result."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from prefect import flow

from flows.runtime import directive_tags, label_current_run, resolve_now
from tasks.artifacts import publish_status
from tasks.feed import publish_changes
from tasks.directives import decide_extension_task, reassign_task, record_update_task, review_result_task


@flow(name="record-update", flow_run_name="record · {slug}/{key} → {status}")
def record_update(
    slug: str,
    key: str,
    status: Literal["acknowledged", "in_progress", "done"],
    evidence: str | None = None,
    evidence_on: date | None = None,
    note: str | None = None,
    actor: str = "coordinator",
    now: datetime | None = None,
) -> dict:
    """Ghi nhận báo cáo của cơ quan. Ghi nhận mốc hoàn thành (done) thì văn bản kết thúc.

    Args:
        slug: Slug của văn bản, ví dụ 2550-stttt-bctt.
        key: Khóa nhiệm vụ, ví dụ permit-review.
        status: acknowledged (đã tiếp nhận), in_progress (đang thực hiện) hoặc done (hoàn thành).
        evidence: Số, ký hiệu văn bản báo cáo kết quả, ví dụ 15/SXD-QLXD.
        evidence_on: Ngày của văn bản báo cáo.
        note: Ghi chú.
        actor: Người ghi nhận.
        now: Thời điểm coi là hiện tại; bỏ trống là giờ thực.
    """
    now = resolve_now(now)
    label_current_run(directive_tags(slug))
    result = record_update_task(slug=slug, key=key, status=status, now=now, actor=actor,
                                evidence=evidence, evidence_on=evidence_on, note=note)
    publish_status(slug, now)
    publish_changes(now)
    return result


@flow(name="decide-extension", flow_run_name="extension · {slug}/{key}")
def decide_extension(
    slug: str,
    key: str,
    approve: bool,
    reason: str,
    until: date | None = None,
    actor: str = "coordinator",
    now: datetime | None = None,
) -> dict:
    """Quyết định gia hạn: đồng ý (dời hạn, lập lại lịch nhắc) hoặc không đồng ý; cơ quan chủ trì được thông báo.

    Args:
        slug: Slug của văn bản, ví dụ 2550-stttt-bctt.
        key: Khóa nhiệm vụ, ví dụ land-use-conversion.
        approve: Đồng ý (true) hay không đồng ý (false).
        reason: Lý do của quyết định.
        until: Hạn mới; bỏ trống thì dùng ngày cơ quan đề nghị.
        actor: Người quyết định.
        now: Thời điểm coi là hiện tại; bỏ trống là giờ thực.
    """
    now = resolve_now(now)
    label_current_run(directive_tags(slug))
    result = decide_extension_task(slug=slug, key=key, approve=approve, reason=reason, until=until, now=now, actor=actor)
    publish_status(slug, now)
    publish_changes(now)
    return result


@flow(name="review-result", flow_run_name="review · {slug}/{key}")
def review_result(
    slug: str,
    key: str,
    accept: bool,
    reason: str | None = None,
    until: date | None = None,
    actor: str = "coordinator",
    now: datetime | None = None,
) -> dict:
    """Xem xét kết quả cơ quan báo cáo: xác nhận hoàn thành, hoặc trả lại, yêu cầu bổ sung (nêu lý do, có thể dời hạn).

    Args:
        slug: Slug của văn bản, ví dụ 7-kh-ubnd.
        key: Khóa nhiệm vụ đang chờ xác nhận.
        accept: Xác nhận hoàn thành (true) hay trả lại (false).
        reason: Khi trả lại: lý do, yêu cầu bổ sung (bắt buộc). Khi xác nhận: ghi chú (không bắt buộc).
        until: Khi trả lại: hạn mới; bỏ trống thì giữ hạn cũ.
        actor: Người xem xét.
        now: Thời điểm coi là hiện tại; bỏ trống là giờ thực.
    """
    now = resolve_now(now)
    label_current_run(directive_tags(slug))
    result = review_result_task(slug=slug, key=key, accept=accept, reason=reason, until=until, now=now, actor=actor)
    publish_status(slug, now)
    publish_changes(now)
    return result


@flow(name="reassign-assignment", flow_run_name="reassign · {slug}/{key}")
def reassign_assignment(
    slug: str,
    key: str,
    reason: str,
    leads: list[str] | None = None,
    supporting: list[str] | None = None,
    until: date | None = None,
    keep: bool = False,
    actor: str = "coordinator",
    now: datetime | None = None,
) -> dict:
    """Giao lại nhiệm vụ cho đơn vị chủ trì khác (đơn vị mới nhận thư giao nhiệm vụ), hoặc giữ nguyên khi đơn vị từ chối.

    Args:
        slug: Slug của văn bản.
        key: Khóa nhiệm vụ.
        reason: Lý do của quyết định.
        leads: Mã các đơn vị chủ trì mới (khi giao lại).
        supporting: Mã các đơn vị phối hợp; bỏ trống thì giữ nguyên.
        until: Hạn mới; bỏ trống thì giữ hạn cũ.
        keep: Không chấp nhận lời từ chối, giữ nguyên đơn vị chủ trì.
        actor: Người quyết định.
        now: Thời điểm coi là hiện tại; bỏ trống là giờ thực.
    """
    now = resolve_now(now)
    label_current_run(directive_tags(slug, leads or []))
    result = reassign_task(slug=slug, key=key, reason=reason, leads=leads, supporting=supporting, until=until, keep=keep,
                           now=now, actor=actor)
    publish_status(slug, now)
    publish_changes(now)
    return result
