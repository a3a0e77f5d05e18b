"""The HTTP face (issue 17): Cal.com webhook deliveries, recorded before they are processed, and
busy blocks (bookings made in Cal.com by others) that pre-flight checks against.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calcom_webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_key', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=64), nullable=False),
    sa.Column('booking_uid', sa.String(length=255), nullable=True),
    sa.Column('appointment_id', sa.String(length=191), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(none_as_null=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_key', name='uq_calcom_webhook_events_delivery_key')
    )
    op.create_index('ix_calcom_webhook_events_outcome', 'calcom_webhook_events', ['outcome', 'id'], unique=False)
    op.create_table('calcom_busy_blocks',
    sa.Column('booking_uid', sa.String(length=255), nullable=False),
    sa.Column('host_key', sa.String(length=191), nullable=False),
    sa.Column('start_at', sa.DateTime(), nullable=False),
    sa.Column('end_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('booking_uid')
    )
    op.create_index('ix_calcom_busy_blocks_host_start', 'calcom_busy_blocks', ['host_key', 'start_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_calcom_busy_blocks_host_start', table_name='calcom_busy_blocks')
    op.drop_table('calcom_busy_blocks')
    op.drop_index('ix_calcom_webhook_events_outcome', table_name='calcom_webhook_events')
    op.drop_table('calcom_webhook_events')
