"""steps and review: an assignment may wait for others (after), its due date may follow its start (due_in),
and a reported completion may wait for the coordinator's review (reported_on)

Revision ID: 9a1c5e2f7b30
Revises: 6578633b793f
Create Date: 2026-12-01 20:00:00

A waiting assignment has no due date until it starts, so ``due`` and
``stated_due`` may now be empty. Existing assignments all started at launch:
``started_at`` is left empty for them, which reads as "at launch".
"""

from alembic import op
import sqlalchemy as sa
import models.store.types

revision = '9a1c5e2f7b30'
down_revision = '6578633b793f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignment') as batch:
        batch.alter_column('due', existing_type=sa.Date(), nullable=True)
        batch.alter_column('stated_due', existing_type=sa.Date(), nullable=True)
        batch.add_column(sa.Column('after', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('due_in', sa.Integer(), nullable=True))
        batch.add_column(sa.Column("started_at", models.store.types.AwareDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('reported_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assignment') as batch:
        batch.drop_column('reported_on')
        batch.drop_column('started_at')
        batch.drop_column('due_in')
        batch.drop_column('after')
        batch.alter_column('stated_due', existing_type=sa.Date(), nullable=False)
        batch.alter_column('due', existing_type=sa.Date(), nullable=False)
