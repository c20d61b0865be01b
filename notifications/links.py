"""Signed reply links: scoped to one assignment and one agency, and expiring.

The expiry is inside the signed payload and checked against an explicit
``now``, so nothing here reads the clock and tests can age a link at will.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from models.settings import Settings
from models.store.tables import Assignment, Directive
from models.calendar.timerules import TimeRules

SALT = "dondoc-reply-link"


def url_key(key: str) -> str:
    """An assignment key as one path segment: an occurrence's slash (monthly-report/2021-01) becomes ``~``,
    which no key may hold, so ``key_of_url`` reverses it exactly."""
    return key.replace("/", "~")


def key_of_url(segment: str) -> str:
    return segment.replace("~", "/")


class LinkRefused(Exception):
    """Why a reply link was refused; the page shows this reason."""


@dataclass(frozen=True)
class LinkScope:
    assignment_id: int
    agency: str
    slug: str
    key: str
    expires: date


def secret_key(settings: Settings) -> str:
    """DONDOC_SECRET_KEY, or a random key created once in DONDOC_STATE_DIR/secret.key (mode 600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.state_dir) / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


class ReplyLinks:
    def __init__(self, *, secret: str, public_url: str, days: int, rules: TimeRules):
        self.serializer = URLSafeSerializer(secret, salt=SALT)
        self.public_url = public_url.rstrip("/")
        self.days = days
        self.rules = rules

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplyLinks:
        return cls(secret=secret_key(settings), public_url=settings.public_url, days=settings.link_days,
                   rules=TimeRules.from_settings(settings))

    def token(self, *, assignment_id: int, agency: str, slug: str, key: str, now: datetime) -> tuple[str, date]:
        expires = self.rules.today(now) + timedelta(days=self.days)
        data = {"a": assignment_id, "g": agency, "s": slug, "k": key, "e": expires.isoformat()}
        return self.serializer.dumps(data), expires

    def page(self, slug: str, key: str, token: str) -> str:
        return f"{self.public_url}/phan-hoi/{quote(slug)}/{quote(url_key(key), safe='~')}?t={token}"

    def __call__(self, directive: Directive, assignment: Assignment, agency: str, now: datetime) -> dict:
        """The link maker of outgoing messages."""
        token, expires = self.token(assignment_id=assignment.id, agency=agency, slug=directive.slug,
                                    key=assignment.key, now=now)
        return {"page": self.page(directive.slug, assignment.key, token), "expires": expires}

    def verify(self, token: str, *, slug: str, key: str, now: datetime) -> LinkScope:
        """The scope of a token presented for assignment ``slug/key``; LinkRefused says why not."""
        try:
            data = self.serializer.loads(token or "")
            scope = LinkScope(assignment_id=int(data["a"]), agency=str(data["g"]), slug=str(data["s"]),
                              key=str(data["k"]), expires=date.fromisoformat(data["e"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            raise LinkRefused("Đường dẫn không hợp lệ: chữ ký không đúng hoặc đường dẫn đã bị sửa.") from None
        if (scope.slug, scope.key) != (slug, key):
            raise LinkRefused("Đường dẫn này dành cho một nhiệm vụ khác.")
        if self.rules.today(now) > scope.expires:
            raise LinkRefused(f"Đường dẫn đã hết hạn từ ngày {scope.expires:%d/%m/%Y}.")
        return scope
