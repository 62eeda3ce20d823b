"""rate-limit counters

The table behind `JOBBRIDGE_RATE_LIMIT_STORAGE=database://` (shared/ratelimit.py), shared by the service's
gunicorn workers. UNLOGGED on PostgreSQL: counters need no crash safety, and a commit touching only this
table waits for no WAL flush. IF NOT EXISTS: databases from before this revision got the table from the
storage itself.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute(f"CREATE {'UNLOGGED ' if pg else ''}TABLE IF NOT EXISTS rate_limit_counters ("
               "key VARCHAR(255) NOT NULL PRIMARY KEY, count INTEGER NOT NULL, "
               f"expires_at {'DOUBLE PRECISION' if pg else 'FLOAT'} NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS rate_limit_counters")
