"""oversight: a rating scale per agency registry, and cursors of outside consumers of the audit trail

Revision ID: 7c2e9d41a0b5
Revises: 3d7b0c4e9a12
Create Date: 2026-12-01 23:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import models.store.types

revision = '7c2e9d41a0b5'
down_revision = '3d7b0c4e9a12'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registry') as batch:
        batch.add_column(sa.Column('ratings', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table(
        'outlet',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('last_event_id', sa.Integer(), nullable=False),
        sa.Column('updated_at', models.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('outlet')
    with op.batch_alter_table('registry') as batch:
        batch.drop_column('ratings')
