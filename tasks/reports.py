"""Writing a report file and showing it in the Prefect UI."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from models.db import transaction
from models.settings import get_settings
from models.timerules import TimeRules
from notifications.docx_report import to_docx
from notifications.report import build_report, to_html, to_markdown


def render_report(slug: str, fmt: str, now: datetime) -> tuple[bytes, str]:
    """The report's bytes in ``fmt`` (md, html, docx), and its Markdown for the UI."""
    rules = TimeRules.from_settings(get_settings())
    with transaction() as session:
        report = build_report(session, slug=slug, now=now, rules=rules, with_timeline=fmt == "html")
    markdown = to_markdown(report)
    if fmt == "md":
        return markdown.encode("utf-8"), markdown
    if fmt == "html":
        return to_html(report).encode("utf-8"), markdown
    return to_docx(report), markdown


@task(name="write-report")
def write_report(slug: str, fmt: str, output: str, now: datetime) -> dict:
    """Write the report atomically to ``output`` and publish it as the artifact ``report-<slug>``."""
    data, markdown = render_report(slug, fmt, now)
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".report-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, target)
    create_markdown_artifact(key=f"report-{slug}", markdown=markdown, description=f"Báo cáo {slug} ({target.name})")
    return {"path": str(target), "bytes": len(data), "format": fmt}
