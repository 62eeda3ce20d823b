"""idempotency keys; the request id of each outbox event

`idempotency_keys` holds, per caller and Idempotency-Key, the fingerprint of the first request and its stored
answer (shared/idempotency.py); its primary key is what keeps two concurrent requests with one key from both
creating. `outbox.request_id` carries the X-Request-ID of the request that recorded an event into the event's
headers (shared/requestid.py).

Revision ID: 0004_idempotency
Revises: 0003_privacy
"""
from alembic import op
import sqlalchemy as sa

revision = '0004_idempotency'
down_revision = '0003_privacy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'idempotency_keys',
        sa.Column('caller', sa.String(length=255), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('headers', sa.Text(), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('resource_id', sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint('caller', 'key'),
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)
    op.create_index('ix_idempotency_keys_resource_id', 'idempotency_keys', ['resource_id'], unique=False)
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_column('request_id')
    op.drop_index('ix_idempotency_keys_resource_id', table_name='idempotency_keys')
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
