"""upcoming courses from support's training events (m_courses)

Revision ID: 0003_courses
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_courses'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('m_courses',
    sa.Column('course_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('skill_key', sa.String(length=100), nullable=False),
    sa.Column('certificate_key', sa.String(length=100), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('enrolled', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('course_id')
    )
    with op.batch_alter_table('m_courses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_m_courses_certificate_key'), ['certificate_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_m_courses_skill_key'), ['skill_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_m_courses_starts_on'), ['starts_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('m_courses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_m_courses_starts_on'))
        batch_op.drop_index(batch_op.f('ix_m_courses_skill_key'))
        batch_op.drop_index(batch_op.f('ix_m_courses_certificate_key'))
    op.drop_table('m_courses')
