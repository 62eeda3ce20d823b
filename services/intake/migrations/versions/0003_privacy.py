"""privacy: no birth date in clear

The full birth date stays only inside the encrypted national ID; the workers table keeps the year of birth
(with the gender, which the 4050 rule needs) so that ages, the 4050 flag and the figures can be computed
without decrypting anything. Existing rows are converted: the year is taken from the date, then the date
column is dropped. On SQLite the old pages may survive in the file's free list until VACUUM: the column is
rebuilt with `secure_delete` on, which overwrites freed pages with zeros.

Walking down restores an empty `birth_date` column (the date cannot come back without the key).

Revision ID: 0003_privacy
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003_privacy'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA secure_delete = ON")
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_year', sa.SmallInteger(), nullable=True))
    year = "CAST(strftime('%Y', birth_date) AS INTEGER)" if sqlite else "CAST(EXTRACT(YEAR FROM birth_date) AS INTEGER)"
    op.execute(f"UPDATE workers SET birth_year = {year} WHERE birth_date IS NOT NULL")
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_column('birth_date')


def downgrade() -> None:
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        batch_op.drop_column('birth_year')
