"""The Jinja2 environments: StrictUndefined everywhere, autoescaping for HTML."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications import wording

TEMPLATES = ("notice", "reminder", "due-soon", "overdue", "escalation", "report-up", "digest", "closed")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("notifications", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2", "svg.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=wording.markdown_text,
        dmy=wording.dmy,
        weekday_date=wording.weekday_date,
        long_date=wording.long_date,
        days_phrase=wording.days_phrase,
        honorific=wording.honorific,
    )
    return env


def render(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of template ``name``."""
    env = environment()
    subject = wording.one_line(env.get_template(f"{name}.subject.j2").render(context))
    context = {**context, "title": subject}
    text = env.get_template(f"{name}.txt.j2").render(context)
    html = env.get_template(f"{name}.html.j2").render(context)
    return subject, text, html
