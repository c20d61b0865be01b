"""The ``dondoc`` command line: what coordinators type."""

from dondoc import db_commands, directive_commands, letter_commands, outbox_commands  # noqa: F401  (they register their commands)
from dondoc.app import app


def main() -> None:
    app()
