"""Runtime settings, read from ``DONDOC_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.errors import ConfigError


class Settings(BaseSettings):
    """Everything dondoc reads from its environment.

    Settings are built on demand rather than at import time, so a test or a
    shell can change the environment and get a fresh view.
    """

    model_config = SettingsConfigDict(
        env_prefix="DONDOC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
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


def get_settings() -> Settings:
    """Read the settings as the environment stands now; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "DONDOC_" + "_".join(str(p) for p in first["loc"]).upper()
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"cấu hình {name} không hợp lệ: {message}") from exc
