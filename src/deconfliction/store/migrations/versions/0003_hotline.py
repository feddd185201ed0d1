"""Hotline: messages and their recipients, parties' link status and contacts, link tests.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("addressee", sa.String(64), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("refs", sa.Text, nullable=False),
        sa.Column("time", sa.Double, nullable=False),
    )
    op.create_index("ix_message_sender", "message", ["sender"])
    op.create_table(
        "message_recipient",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("delivered_at", sa.Double, nullable=True),
        sa.Column("reply", sa.String(16), nullable=True),
        sa.Column("reply_text", sa.Text, nullable=True),
        sa.Column("replied_at", sa.Double, nullable=True),
        sa.Column("escalations", sa.Integer, nullable=False),
        sa.Column("escalate_at", sa.Double, nullable=True),
    )
    op.create_index("ix_message_recipient_party", "message_recipient", ["party"])
    op.create_index("ix_message_recipient_escalate_at", "message_recipient", ["escalate_at"])
    op.create_table(
        "party_link",
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_at", sa.Double, nullable=True),
        sa.Column("contacts", sa.Text, nullable=False),
    )
    op.create_table(
        "link_test",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("time", sa.Double, nullable=False),
    )
    op.create_table(
        "link_test_ack",
        sa.Column("test_id", sa.String(36), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("acked_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in ("link_test_ack", "link_test", "party_link", "message_recipient", "message"):
        op.drop_table(table)
