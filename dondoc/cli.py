"""The ``dondoc`` command line: what coordinators type."""

import gc
import os

# The first time pydantic builds a model it looks for plugins among the entry points of every installed
# distribution. Prefect's dependencies make that a long list: 0.15 to 0.3 s here, more than a read-only command
# spends on everything but its imports (bench/cli_latency.py). dondoc uses no pydantic plugin; one set
# deliberately in the environment is still honoured.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from dondoc import db_commands, directive_commands, letter_commands, outbox_commands, oversight_commands  # noqa: F401  (they register their commands)
from dondoc.app import app


def main() -> None:
    try:
        app()
    finally:
        # At exit the interpreter collects the whole heap several times over while it unloads the modules:
        # about 0.3 s after SQLAlchemy and pydantic are loaded, a third of a read-only command
        # (bench/cli_latency.py). What is still alive then is freed by the exit all the same; frozen
        # objects are only kept out of those collections.
        gc.freeze()
