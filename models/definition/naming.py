"""Names derived from directive numbers."""

from __future__ import annotations

import re
import unicodedata


def slugify(number: str) -> str:
    """``2550/STTTT-BCTT`` → ``2550-stttt-bctt``.

    The number is lowercased and "/" becomes "-". Diacritics are dropped and
    anything else outside [a-z0-9-] becomes "-", because the slug is also a
    Prefect artifact key, which allows only those characters.
    """
    text = number.strip().lower().replace("đ", "d")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text or "directive"
