"""`dondoc db`: the schema of the project database."""

from __future__ import annotations

import typer

from dondoc.app import app, err, out

db = typer.Typer(help="Lược đồ cơ sở dữ liệu của dondoc (Alembic).", no_args_is_help=True)
app.add_typer(db, name="db")


def _engine():
    from models.store.db import get_engine
    from models.settings import get_settings

    return get_engine(get_settings().database_url)


@db.command()
def upgrade() -> None:
    """Nâng cấp cơ sở dữ liệu lên lược đồ mới nhất (chạy sau mỗi lần cập nhật dondoc)."""
    from sqlalchemy.exc import OperationalError

    from dondoc.render import safe
    from models.store import migrate
    from models.errors import DatabaseUnavailable

    try:
        before, after = migrate.upgrade(_engine())
    except OperationalError as exc:
        raise DatabaseUnavailable(f"không kết nối được cơ sở dữ liệu: {str(exc.orig).strip().splitlines()[0]}") from None
    if before == after:
        err.print(f"Cơ sở dữ liệu đã ở phiên bản mới nhất ({safe(after)}).")
    else:
        err.print(f"Đã nâng cấp cơ sở dữ liệu: {safe(before or '(trống)')} → {safe(after)}.")


@db.command()
def current() -> None:
    """In phiên bản lược đồ hiện tại và phiên bản mới nhất."""
    from sqlalchemy.exc import OperationalError

    from dondoc.render import safe
    from models.store import migrate
    from models.errors import DatabaseUnavailable

    try:
        now = migrate.current(_engine())
    except OperationalError as exc:
        raise DatabaseUnavailable(f"không kết nối được cơ sở dữ liệu: {str(exc.orig).strip().splitlines()[0]}") from None
    out.print(f"{safe(now or '(trống)')} (mới nhất: {safe(migrate.head())})")
