"""oversight: a rating scale per agency registry, cursors of outside consumers of the audit trail, and
outbox rows that belong to no one directive (a coordinator's daily digest covers all its directives)

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
    with op.batch_alter_table('notification') as batch:
        batch.alter_column('directive_id', existing_type=sa.Integer(), nullable=True)
    op.create_index('ix_event_at', 'event', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_at', table_name='event')
    # Digests of a coordinator belong to no directive: the older schema has no place for them.
    op.execute("DELETE FROM notification WHERE directive_id IS NULL")
    with op.batch_alter_table('notification') as batch:
        batch.alter_column('directive_id', existing_type=sa.Integer(), nullable=False)
    op.drop_table('outlet')
    with op.batch_alter_table('registry') as batch:
        batch.drop_column('ratings')
