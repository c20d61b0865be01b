"""The exceptions dondoc raises on purpose.

    DondocError                   anything dondoc refuses or cannot do; exit code 1
    ├── ConfigError               a DONDOC_* setting is invalid
    ├── DatabaseUnavailable       the project database cannot be reached or refused the write
    ├── NotFound                  no such directive, assignment or agency
    ├── InUse                     another process holds what this one needs (the clock, a port);
    │                             exit code 2, nothing started
    └── InputError                the user's input is wrong; exit code 2, nothing written
        ├── DefinitionError       a directive or registry file is invalid (all problems listed)
        ├── DuplicateDirective    that directive number was launched already
        └── IllegalTransition     the assignment cannot move to that status

Shells print ``str(error)`` as one line and exit with ``error.exit_code``;
a traceback is never shown for these.
"""

from __future__ import annotations

from dataclasses import dataclass


class DondocError(Exception):
    exit_code = 1


class ConfigError(DondocError):
    pass


class DatabaseUnavailable(DondocError):
    pass


class NotFound(DondocError):
    pass


class InUse(DondocError):
    exit_code = 2


class InputError(DondocError):
    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a definition file, located as precisely as known."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class DefinitionError(InputError):
    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class DuplicateDirective(InputError):
    pass


class IllegalTransition(InputError):
    pass
