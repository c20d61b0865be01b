"""one pending extension request per assignment

Revision ID: 3b9d2e7a41c6
Revises: fcf1885f055d
Create Date: 2026-12-01 09:00:00

Requests posted at the same moment could all pass the application's check and
leave two pending requests (and two mails to the coordinator). A unique partial
index makes the database refuse the second one.

A database where the race already happened keeps, for each assignment, its
oldest pending request; the later duplicates become ``withdrawn`` (the state
exists for requests nobody decides on), so the index can be built. Their
events stay in the audit trail untouched.
"""

from alembic import op
import sqlalchemy as sa

revision = '3b9d2e7a41c6'
down_revision = 'fcf1885f055d'
branch_labels = None
depends_on = None

INDEX = "uq_extension_request_one_pending"
PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE extension_request SET state = 'withdrawn', "
        "decision_reason = 'đề nghị trùng với một đề nghị đang chờ trước đó' "
        "WHERE state = 'pending' AND id NOT IN "
        "(SELECT MIN(id) FROM extension_request WHERE state = 'pending' GROUP BY assignment_id)"))
    op.create_index(INDEX, "extension_request", ["assignment_id"], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="extension_request")
