"""Writing a report file and showing it in the Prefect UI."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from notifications.report import write_report as write_report_file


@task(name="write-report")
def write_report(slug: str, fmt: str, output: str, now: datetime) -> dict:
    """Write the report atomically to ``output`` and publish it as the artifact ``report-<slug>``."""
    target = Path(output)
    result, markdown = write_report_file(slug, fmt, target, now)
    create_markdown_artifact(key=f"report-{slug}", markdown=markdown, description=f"Báo cáo {slug} ({target.name})")
    return result
