"""The backbone: parties, operations, constraints, volumes and their cells, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "party",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=True),
    )
    op.create_table(
        "operation",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(64), sa.ForeignKey("party.name"), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ovn", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("short_notice", sa.Boolean, nullable=False),
        sa.Column("callsigns", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_operation_owner_state", "operation", ["owner", "state"])
    op.create_table(
        "airspace_constraint",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("authority", sa.String(64), sa.ForeignKey("party.name"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("applies_to", sa.Text, nullable=True),
        sa.Column("exempt", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ovn", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "volume",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("footprint", sa.Text, nullable=False),
        sa.Column("altitude_lower_m", sa.Double, nullable=False),
        sa.Column("altitude_upper_m", sa.Double, nullable=False),
        sa.Column("time_start", sa.Double, nullable=False),
        sa.Column("time_end", sa.Double, nullable=False),
    )
    op.create_index("ix_volume_subject", "volume", ["subject_kind", "subject_id", "ordinal"])
    op.create_table(
        "volume_cell",
        sa.Column("cell", sa.BigInteger, primary_key=True),
        sa.Column("volume_id", sa.BigInteger, primary_key=True),
    )
    op.create_index("ix_volume_cell_volume", "volume_cell", ["volume_id"])
    op.create_table(
        "event",
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("event", "volume_cell", "volume", "airspace_constraint", "operation", "party"):
        op.drop_table(table)
