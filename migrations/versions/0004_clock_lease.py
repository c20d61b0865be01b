"""clock lease: which `dondoc serve` runs the clock of this database

Revision ID: 6578633b793f
Revises: 7c4e91a0d2f5
Create Date: 2026-12-15 09:00:00

APScheduler 3 keeps serve's jobs in this database and must never share that
job store between two processes. A serve takes this lease before it starts
its clock and a second one refuses (models/store/clocklease.py). Nothing to carry
over: a serve running the old code holds no lease, so stop it before upgrading.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import models.store.types

revision = '6578633b793f'
down_revision = '7c4e91a0d2f5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clock_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('instance', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', models.store.types.AwareDateTime(timezone=True), nullable=False),
    sa.Column('renewed_at', models.store.types.AwareDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.store.types.AwareDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('clock_lease')
