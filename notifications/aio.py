"""Running a coroutine from synchronous code, whether or not this thread already runs an event loop."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run(coroutine) -> Any:
    """``asyncio.run``, on a thread of its own when this one already runs a loop (an async caller, or a library
    such as Playwright's sync API); context variables (Prefect's run context) go along."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1, thread_name_prefix="aio") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()
