"""Where a deployment run may read and write: the directives folder and the reports folder, nothing else.

A Run form in the Prefect UI is filled by whoever holds the API's credential,
and the worker that runs it acts with the worker's own file permissions. So a
path typed in a form is taken under its folder, with symlinks followed, and is
refused if it ends up anywhere else. The command line is not confined: whoever
types ``dondoc report -o …`` already has the machine's files.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from models.errors import InputError
from models.textcheck import problem, shown


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, with symlinks and ``..`` resolved, is ``root`` or lies under it."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):  # a NUL byte, a name too long: no file there that we would open
        return False


def confined(root: Path, name: str, *, field: str, folder: str) -> Path:
    """The file ``name`` names in ``root``: relative names are taken under ``root``; whatever leaves it is refused.

    ``field`` names the form field and ``folder`` says in Vietnamese which folder
    ``root`` is, for the one-line refusal. The answer is resolved (absolute, no
    symlinks), so what is then opened is what was checked.
    """
    text = name.strip()
    if not text:
        raise InputError(f"{field}: chưa nhập tên tệp")
    bad = problem(text, "line")
    if bad:
        raise InputError(f"{field}: tên tệp {bad}")
    base = root.resolve()
    target = (base / text).resolve()  # an absolute name replaces base: it is kept only if it lies under it
    if target == base or not target.is_relative_to(base):
        raise InputError(f"{field}: {shown(text)!r} nằm ngoài {folder} ({base}); "
                         f"chỉ dùng được tệp trong thư mục này, ví dụ tên tệp không kèm thư mục")
    return target


def directive_file(root: Path, name: str) -> Path:
    """A definition file named in a form: in the directives folder, as "x.yaml" or, from the checkout, "directives/x.yaml"."""
    typed = Path(name.strip())
    if name.strip() and not typed.is_absolute() and typed.is_file() and inside(root, typed):
        return typed.resolve()  # named from the working directory, as the docs and the command line do
    return confined(root, name, field="path", folder="thư mục văn bản")


def period_report_name(period: str | None, span: tuple[date, date], fmt: str, on: date) -> str:
    """The period report's file name when none is given: bao-cao-ky-<period>-<YYYYMMDD>.<format>, or with
    --from/--until bao-cao-<from>-<until>-<YYYYMMDD>.<format>."""
    which = f"ky-{period}" if period else f"{span[0]:%Y%m%d}-{span[1]:%Y%m%d}"
    return f"bao-cao-{which}-{on:%Y%m%d}.{fmt}"


def report_name(slug: str, fmt: str, on: date) -> str:
    """The report's file name when none is given: bao-cao-<slug>-<YYYYMMDD>.<format>."""
    return f"bao-cao-{slug}-{on:%Y%m%d}.{fmt}"
