"""Producing the báo cáo on a directive."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from prefect import flow

from flows.runtime import directive_tags, label_current_run, resolve_now
from models.paths import report_name
from models.settings import get_settings
from tasks.reports import write_report


@flow(name="produce-report", flow_run_name="report · {slug}")
def produce_report(
    slug: str,
    format: Literal["md", "html", "docx"] = "docx",
    output: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Lập báo cáo tình hình thực hiện văn bản gửi Cục Viễn thông (theo thể thức Nghị định 30/2020/NĐ-CP).

    The command line's flow: ``output`` is any path (the Run form's flow, in flows/console.py, is confined).

    Args:
        slug: Slug của văn bản, ví dụ 2550-stttt-bctt.
        format: Định dạng tệp: md, html hoặc docx.
        output: Đường dẫn tệp; bỏ trống thì ghi vào thư mục báo cáo (DONDOC_REPORTS_DIR).
        now: Thời điểm báo cáo; bỏ trống là giờ thực.
    """
    now = resolve_now(now)
    target = Path(output) if output else get_settings().reports_root / report_name(slug, format, now.date())
    return report_one(slug, format, target, now)


def report_one(slug: str, fmt: str, target: Path, now: datetime) -> dict:
    """The body of a report, shared with the Run form's flow (flows/console.py)."""
    label_current_run(directive_tags(slug))
    return write_report(slug, fmt, str(target), now)
