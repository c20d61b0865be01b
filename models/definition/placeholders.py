"""The placeholder ``<TODO: …>``: a value a person still has to supply.

`dondoc import-letter` leaves one wherever the letter did not say enough; the
loader refuses any definition that still holds one, anywhere, and names each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Case and spacing are forgiven: a coordinator who retypes one by hand must still be stopped.
_PLACEHOLDER = re.compile(r"<\s*TODO\b[^>]*>", re.IGNORECASE)


def placeholder(label: str) -> str:
    return f"<TODO: {label}>"


def find_placeholders(data: Any) -> Iterator[tuple[list[Any], str]]:
    """``(location, placeholder)`` for every placeholder in a parsed document, keys included, in document order."""
    # Iterative: a hostile document may nest deeper than the recursion limit.
    stack: list[tuple[list[Any], Any]] = [([], data)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, str):
            found = _PLACEHOLDER.search(node)
            if found:
                yield loc, found.group(0)
        elif isinstance(node, dict):
            children = []
            for key, value in node.items():
                if isinstance(key, str) and _PLACEHOLDER.search(key):
                    yield [*loc, key], _PLACEHOLDER.search(key).group(0)
                children.append(([*loc, key], value))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([([*loc, i], value) for i, value in enumerate(node)]))
