"""Running a campaign on a simulated clock against a fresh database and an in-process mailbox."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dondoc.mailbox import read_messages, start_mailbox
from models.store.db import transaction
from models.errors import InputError
from models.definition.loader import load_directive_file
from models.lifecycle.queries import get_directive, status_rows
from models.lifecycle.responses import load_responses
from models.settings import get_settings
from models.calendar.timerules import TimeRules


@dataclass
class Simulation:
    slug: str
    number: str
    timeline: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    final: list[dict[str, Any]]
    maildir: Path
    database: Path
    start: datetime
    until: datetime

    def summary(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "messages": len(self.timeline),
            "by_rung": dict(Counter(item["rung"] for item in self.timeline)),
            "responses": self.responses,
            "final": {row["key"]: row["status"] for row in self.final},
            "maildir": str(self.maildir),
            "database": str(self.database),
        }


@contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """Point this process's settings at the simulation's database and mailbox, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def simulate(file: Path, *, start: datetime, until: datetime, responses: Path | None = None,
             maildir: Path | None = None, database: Path | None = None, show_progress: bool = False) -> Simulation:
    """Validate everything first, then run the campaign; refuses with exit code 2 on bad input."""
    if until <= start:
        raise InputError("--until phải sau --from")
    loaded = load_directive_file(file)
    keys = {a.key for a in loaded.directive.assignments}
    recurring = {a.key: a.every for a in loaded.directive.assignments if a.every}
    script = load_responses(responses, keys=keys, start=start.date(), until=until.date(),
                            recurring=recurring) if responses else []
    workdir = Path(tempfile.mkdtemp(prefix="dondoc-simulate-"))
    maildir = maildir or workdir / "maildir"
    if maildir.exists() and any(maildir.glob("*/*")):
        raise InputError(f"--maildir {maildir}: thư mục đã có thư; hãy chọn một thư mục trống")
    database = database or workdir / "dondoc.db"
    if database.exists():
        raise InputError(f"cơ sở dữ liệu {database} đã tồn tại; mô phỏng cần một cơ sở dữ liệu mới")
    database.parent.mkdir(parents=True, exist_ok=True)

    progress = _progress(start, until) if show_progress else None
    task_id = progress.add_task("Mô phỏng", total=(until - start).total_seconds()) if progress else None

    def advance(message) -> None:
        if progress and message["Date"] is not None:
            progress.update(task_id, completed=max(0.0, (message["Date"].datetime - start).total_seconds()))

    controller = start_mailbox(maildir, echo=advance if progress else None)
    try:
        with _environment(
            DONDOC_DATABASE_URL=f"sqlite:///{database}", DONDOC_SMTP_HOST=controller.hostname,
            DONDOC_SMTP_PORT=str(controller.port), DONDOC_SMTP_SECURITY="none", DONDOC_SMTP_USERNAME=None,
            DONDOC_SMTP_PASSWORD=None, DONDOC_SMTP_RATE="0",
        ):
            from flows.simulate import simulate_campaign

            if progress:
                progress.start()
            result = simulate_campaign(
                path=str(file), start=start, until=until, label=file.stem,
                responses=[r.model_dump(mode="json") for r in script],
            )
            if progress:
                progress.update(task_id, completed=(until - start).total_seconds())
            final = _final_state(result["slug"], until)
    finally:
        if progress:
            progress.stop()
        controller.stop()
        if workdir not in (maildir.parent, database.parent):
            shutil.rmtree(workdir, ignore_errors=True)  # nothing of the run lives there
    return Simulation(slug=result["slug"], number=result["number"], timeline=timeline_of(maildir),
                      responses=result["responses"], final=final, maildir=maildir, database=database,
                      start=start, until=until)


def _final_state(slug: str, until: datetime) -> list[dict]:
    rules = TimeRules.from_settings(get_settings())
    with transaction() as session:
        directive = get_directive(session, slug=slug)
        return [row.as_json() for row in status_rows(session, directive=directive, now=until, rules=rules)]


def timeline_of(maildir: Path) -> list[dict[str, Any]]:
    """What the mailbox received, as (date, rung, assignment, recipients) rows."""
    rows = []
    for message in read_messages(maildir):
        rows.append({
            "date": message["Date"].datetime.isoformat(),
            "rung": str(message["X-Dondoc-Rung"]),
            "directive": str(message["X-Dondoc-Directive"]) if message["X-Dondoc-Directive"] else None,  # a digest: all
            "assignment": str(message["X-Dondoc-Assignment"]) if message["X-Dondoc-Assignment"] else None,
            "to": [a.addr_spec for a in message["To"].addresses],
            "cc": [a.addr_spec for a in message["Cc"].addresses] if message["Cc"] else [],
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
        })
    return rows


def _progress(start: datetime, until: datetime) -> Progress:
    return Progress(
        TextColumn("[bold]Mô phỏng[/] {task.description}"),
        BarColumn(),
        TextColumn(f"{start:%d/%m/%Y} → {until:%d/%m/%Y}"),
        TimeElapsedColumn(),
        transient=True,
    )
