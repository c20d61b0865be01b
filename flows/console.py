"""The coordinator's console: the flows that the deployments run, asking only what a Run form may ask.

Whoever reaches the Prefect API with its credential can fill these forms, and a
worker runs them with its own rights on its machine. So, unlike the command
line's flows they share their bodies with:

- the actor is the coordinator, never a name typed in the form (Prefect's basic
  authentication has one credential for all, so the form cannot tell who filled it);
- ``now`` is the real clock; a rehearsal install on past dates may allow it
  (DONDOC_DEPLOYMENTS_ALLOW_NOW on the workers), a form cannot;
- a launch reads only under the directives folder, the registry it names included,
  and a report writes only under the reports folder.

Each flow keeps the name of its command-line twin, so the UI shows the runs of
both under one flow, whichever way the coordinator acted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from prefect import flow

from flows import record
from flows.launch import launch_one
from flows.report import report_one
from flows.runtime import resolve_now
from flows.sweep import sweep_once
from models.errors import InputError
from models.paths import confined, directive_file, report_name
from models.settings import get_settings

# The actor of every action taken from a Run form; the reply pages show it as the directive's issuer.
COORDINATOR = "coordinator"


def form_now(now: datetime | None) -> datetime:
    """The real clock, unless this worker's operator allowed rehearsing on other dates."""
    if now is not None and not get_settings().deployments_allow_now:
        raise InputError("now: không đặt được thời điểm từ biểu mẫu (chỉ dùng khi diễn tập, nếu máy chạy đặt "
                         "DONDOC_DEPLOYMENTS_ALLOW_NOW=true); để trống để dùng giờ thực")
    return resolve_now(now)


@flow(name="launch-directive", flow_run_name="launch")
def launch_directive(
    path: str | None = None,
    yaml_text: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Khởi tạo văn bản chỉ đạo: kiểm tra, tạo các nhiệm vụ trong một giao dịch, rồi mở từng nhiệm vụ.

    Args:
        path: Tệp YAML trong thư mục văn bản, ví dụ 2550-STTTT-BCTT.yaml hoặc directives/2550-STTTT-BCTT.yaml.
        yaml_text: Hoặc dán nội dung YAML của văn bản vào đây (tệp danh mục cơ quan tính từ thư mục văn bản).
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    moment = form_now(now)
    root = get_settings().directives_root.resolve()
    file = str(directive_file(root, path)) if path is not None else None
    return launch_one(path=file, yaml_text=yaml_text, now=moment, actor=COORDINATOR, base_dir=str(root),
                      within=str(root))


@flow(name="record-update", flow_run_name="record · {slug}/{key} → {status}")
def record_update(
    slug: str,
    key: str,
    status: Literal["acknowledged", "in_progress", "done"],
    evidence: str | None = None,
    evidence_on: date | None = None,
    note: str | None = None,
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
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    return record.record_update.fn(slug=slug, key=key, status=status, evidence=evidence, evidence_on=evidence_on,
                                   note=note, actor=COORDINATOR, now=form_now(now))


@flow(name="decide-extension", flow_run_name="extension · {slug}/{key}")
def decide_extension(
    slug: str,
    key: str,
    approve: bool,
    reason: str,
    until: date | None = None,
    now: datetime | None = None,
) -> dict:
    """Quyết định gia hạn: đồng ý (dời hạn, lập lại lịch nhắc) hoặc không đồng ý; cơ quan chủ trì được thông báo.

    Args:
        slug: Slug của văn bản, ví dụ 2550-stttt-bctt.
        key: Khóa nhiệm vụ, ví dụ land-use-conversion.
        approve: Đồng ý (true) hay không đồng ý (false).
        reason: Lý do của quyết định.
        until: Hạn mới; bỏ trống thì dùng ngày cơ quan đề nghị.
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    return record.decide_extension.fn(slug=slug, key=key, approve=approve, reason=reason, until=until,
                                      actor=COORDINATOR, now=form_now(now))


@flow(name="review-result", flow_run_name="review · {slug}/{key}")
def review_result(
    slug: str,
    key: str,
    accept: bool,
    reason: str | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> dict:
    """Xem xét kết quả cơ quan báo cáo: xác nhận hoàn thành, hoặc trả lại, yêu cầu bổ sung.

    Args:
        slug: Slug của văn bản, ví dụ 7-kh-ubnd.
        key: Khóa nhiệm vụ đang chờ xác nhận.
        accept: Xác nhận hoàn thành (true) hay trả lại, yêu cầu bổ sung (false).
        reason: Khi trả lại: lý do (bắt buộc). Khi xác nhận: ghi chú (không bắt buộc).
        until: Khi trả lại: hạn mới; bỏ trống thì giữ hạn cũ.
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    return record.review_result.fn(slug=slug, key=key, accept=accept, reason=reason, until=until,
                                   actor=COORDINATOR, now=form_now(now))


@flow(name="reassign-assignment", flow_run_name="reassign · {slug}/{key}")
def reassign_assignment(
    slug: str,
    key: str,
    reason: str,
    leads: list[str] | None = None,
    supporting: list[str] | None = None,
    until: date | None = None,
    keep: bool = False,
    now: datetime | None = None,
) -> dict:
    """Giao lại nhiệm vụ cho đơn vị chủ trì khác, hoặc giữ nguyên khi đơn vị từ chối (keep).

    Args:
        slug: Slug của văn bản.
        key: Khóa nhiệm vụ.
        reason: Lý do của quyết định.
        leads: Mã các đơn vị chủ trì mới (khi giao lại), ví dụ ["sct"].
        supporting: Mã các đơn vị phối hợp; bỏ trống thì giữ nguyên.
        until: Hạn mới; bỏ trống thì giữ hạn cũ.
        keep: Không chấp nhận lời từ chối, giữ nguyên đơn vị chủ trì.
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    return record.reassign_assignment.fn(slug=slug, key=key, reason=reason, leads=leads, supporting=supporting,
                                         until=until, keep=keep, actor=COORDINATOR, now=form_now(now))


@flow(name="produce-report", flow_run_name="report · {slug}")
def produce_report(
    slug: str,
    format: Literal["md", "html", "docx"] = "docx",
    output: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Lập báo cáo tình hình thực hiện văn bản gửi Cục Viễn thông (theo thể thức Nghị định 30/2020/NĐ-CP).

    Args:
        slug: Slug của văn bản, ví dụ 2550-stttt-bctt.
        format: Định dạng tệp: md, html hoặc docx.
        output: Tên tệp trong thư mục báo cáo của máy chạy; bỏ trống thì đặt tên theo văn bản và ngày.
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    moment = form_now(now)
    root = get_settings().reports_root
    target = confined(root, output or report_name(slug, format, moment.date()), field="output", folder="thư mục báo cáo")
    return report_one(slug, format, target, moment)


@flow(name="escalation-sweep", flow_run_name="sweep")
def escalation_sweep(now: datetime | None = None) -> dict:
    """Quét hộp thư đi: gửi mọi thư đến hạn (giao việc, nhắc hạn, đôn đốc, báo cáo) và cập nhật bảng tình hình.

    Args:
        now: Chỉ dùng khi diễn tập; để trống là giờ thực.
    """
    return sweep_once(form_now(now))
