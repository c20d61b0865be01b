"""recurring reports: a series per recurring assignment, and its occurrences as assignments with a period

Revision ID: 3d7b0c4e9a12
Revises: 9a1c5e2f7b30
Create Date: 2026-12-01 22:30:00

An occurrence's key is ``<key>/<period>``, so the assignment key may now be longer than a definition's key.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import models.store.types

revision = '3d7b0c4e9a12'
down_revision = '9a1c5e2f7b30'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'series',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('directive_id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('every', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('report_day', sa.Integer(), nullable=False),
        sa.Column('window', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('until', sa.Date(), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('after', sa.JSON(), nullable=False),
        sa.Column('next_period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('next_opens_at', models.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column('created_at', models.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['directive_id'], ['directive.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('directive_id', 'key'),
    )
    op.create_index(op.f('ix_series_directive_id'), 'series', ['directive_id'], unique=False)
    op.create_index(op.f('ix_series_next_opens_at'), 'series', ['next_opens_at'], unique=False)
    with op.batch_alter_table('assignment') as batch:
        batch.alter_column('key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                           type_=sqlmodel.sql.sqltypes.AutoString(length=96), existing_nullable=False)
        batch.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch.add_column(sa.Column('window_from', sa.Date(), nullable=True))
        batch.add_column(sa.Column('window_to', sa.Date(), nullable=True))
        batch.create_index(batch.f('ix_assignment_series_id'), ['series_id'], unique=False)
        batch.create_foreign_key('fk_assignment_series_id', 'series', ['series_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('assignment') as batch:
        batch.drop_constraint('fk_assignment_series_id', type_='foreignkey')
        batch.drop_index(batch.f('ix_assignment_series_id'))
        batch.drop_column('window_to')
        batch.drop_column('window_from')
        batch.drop_column('period')
        batch.drop_column('series_id')
        batch.alter_column('key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=96),
                           type_=sqlmodel.sql.sqltypes.AutoString(length=64), existing_nullable=False)
    op.drop_index(op.f('ix_series_next_opens_at'), table_name='series')
    op.drop_index(op.f('ix_series_directive_id'), table_name='series')
    op.drop_table('series')
