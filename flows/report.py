"""Producing the báo cáo on a directive."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from prefect import flow

from flows.runtime import directive_tags, label_current_run, resolve_now
from tasks.reports import write_report


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
        output: Đường dẫn tệp; bỏ trống thì ghi vào thư mục reports/.
        now: Thời điểm báo cáo; bỏ trống là giờ thực.
    """
    now = resolve_now(now)
    label_current_run(directive_tags(slug))
    target = output or str(Path("reports") / f"bao-cao-{slug}-{now:%Y%m%d}.{format}")
    return write_report(slug, format, target, now)
