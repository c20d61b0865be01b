"""Runtime settings, read from ``DONDOC_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.errors import ConfigError


class Settings(BaseSettings):
    """Everything dondoc reads from its environment.

    Settings are built on demand rather than at import time, so a test or a
    shell can change the environment and get a fresh view.
    """

    model_config = SettingsConfigDict(
        env_prefix="DONDOC_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite:///dondoc.db",
        description="SQLAlchemy URL of the project database.",
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="Business timezone.")
    days_off: list[date] = Field(
        default_factory=list,
        description="Extra days off on top of the public holidays (JSON list of ISO dates).",
    )
    makeup_days: list[date] = Field(
        default_factory=list,
        description="Weekend days declared working days to make up for a bridge holiday.",
    )


    smtp_host: str = Field(default="127.0.0.1", description="SMTP server; `dondoc mailbox` listens here by default.")
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for the SMTP server.")
    smtp_connections: int = Field(default=4, ge=1, le=32, description="SMTP connections reused by one dispatcher.")
    smtp_rate: int = Field(default=0, ge=0, description="Messages per minute; 0 means no limit.")
    mail_from: str = Field(default="dondoc@localhost", description="Envelope and header sender address.")

    public_url: str = Field(default="http://127.0.0.1:8080", description="Base URL of the reply pages in e-mails.")
    secret_key: SecretStr | None = Field(
        default=None, description="Signs reply links and forms. Unset: a random key kept in DONDOC_STATE_DIR/secret.key."
    )
    link_days: int = Field(default=60, ge=1, le=3650, description="Days a reply link stays valid.")
    state_dir: str = Field(
        default=".dondoc",
        description="Where the generated secret, uploads and (unless PREFECT_HOME is set) Prefect's own state are kept.",
    )
    prefect_startup_seconds: float = Field(
        default=120, gt=0, le=3600,
        description="How long a Prefect server that dondoc starts may take to start: a command's temporary one (each "
                    "of its two attempts), serve's own. Prefect's own limit is 20 s, which a busy machine exceeds.",
    )
    upload_max_mb: float = Field(default=10.0, gt=0, le=200, description="Largest reply document accepted, in MB.")
    directives_dir: str = Field(
        default="directives",
        description="The directives folder (relative: to the working directory, the checkout for workers). "
                    "The launch deployment reads only under it.",
    )
    reports_dir: str | None = Field(
        default=None, description="Where reports are written. Unset: DONDOC_STATE_DIR/reports. "
                                  "The report deployment writes only under it.",
    )
    deployments_allow_now: bool = Field(
        default=False,
        description="Let deployment runs take an explicit `now` (a rehearsal on past dates). Never on a live install: "
                    "whoever can fill a Run form could backdate the audit trail or send every reminder at once.",
    )

    sweep_minutes: int = Field(default=15, ge=1, le=1440)
    batch_size: int = Field(default=500, ge=1, le=10000, description="Notifications claimed per dispatch task.")
    claim_lease_seconds: int = Field(
        default=60, ge=2, le=3600,
        description="A dispatcher's claim on its batch lasts this long on the wall clock and is renewed every quarter "
                    "of it while the batch is in flight; a claim left to lapse (a crashed dispatcher) is taken again.",
    )
    retry_hours: float = Field(
        default=96, gt=0, le=24 * 60,
        description="Hours a message is retried after transient failures, from its first attempt; then it fails.",
    )
    artifacts_per_sweep: int = Field(
        default=1000, ge=1, description="Status artifacts a sweep refreshes at most; the next sweeps do the rest."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def reports_root(self) -> Path:
        return Path(self.reports_dir) if self.reports_dir else Path(self.state_dir) / "reports"

    @property
    def directives_root(self) -> Path:
        return Path(self.directives_dir)


_last: tuple[tuple, Settings] | None = None


def get_settings() -> Settings:
    """Read the settings as the environment stands now; a bad value names its variable.

    Building them costs about 1 ms here (pydantic-settings reads every field
    from the environment and the .env file), and the demo's campaign asks
    some 250 times: the last result is kept while what it was read from is
    unchanged (the DONDOC_* variables, the working directory and its .env
    file), and costs 0.04 ms. It is frozen, so whoever shares it cannot
    change it for the others.
    """
    global _last
    key = _source_key()
    if _last is not None and _last[0] == key:
        return _last[1]
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "DONDOC_" + "_".join(str(p) for p in first["loc"]).upper()
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"cấu hình {name} không hợp lệ: {message}") from exc
    _last = (key, settings)
    return settings


def _source_key() -> tuple:
    """What Settings() reads: DONDOC_* variables (any case), and the .env file of the working directory."""
    variables = tuple(sorted((k, v) for k, v in os.environ.items() if k[:7].upper() == "DONDOC_"))
    cwd = os.getcwd()
    try:
        stat = os.stat(os.path.join(cwd, ".env"))
        dotenv = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    except OSError:
        dotenv = None
    return variables, cwd, dotenv
