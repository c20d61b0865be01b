"""retry window: when a message's first attempt was made

Revision ID: 7c4e91a0d2f5
Revises: 3b9d2e7a41c6
Create Date: 2026-12-08 09:00:00

Transient failures are retried for DONDOC_RETRY_HOURS from a row's first
attempt, no longer a number of times. Rows already waiting for a retry get
their window from their next failed attempt.
"""

from alembic import op
import sqlalchemy as sa
import models.store.types

revision = '7c4e91a0d2f5'
down_revision = '3b9d2e7a41c6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notification", sa.Column("first_attempt_at", models.store.types.AwareDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("first_attempt_at")
