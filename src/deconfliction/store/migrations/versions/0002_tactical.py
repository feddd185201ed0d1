"""Tactical: the aircraft registry, latest tracks, alerts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aircraft",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("icao24", sa.String(6), nullable=True, unique=True),
        sa.Column("callsign", sa.String(16), nullable=True),
        sa.Column("operation_id", sa.String(36), nullable=True),
    )
    op.create_table(
        "track",
        sa.Column("aircraft_id", sa.String(64), primary_key=True),
        sa.Column("party", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Double, nullable=False) for name in (
            "time", "lat", "lon", "altitude_m", "ground_speed_mps", "track_deg",
            "vertical_rate_mps", "received_at")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("parties", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raised_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("cleared_at", sa.Double, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_state", "alert", ["state"])
    op.create_table(
        "alert_party",
        sa.Column("alert_id", sa.String(36), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
    )
    op.create_index("ix_alert_party_party", "alert_party", ["party"])


def downgrade() -> None:
    for table in ("alert_party", "alert", "track", "aircraft"):
        op.drop_table(table)
