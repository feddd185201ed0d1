"""Aircraft identity per party: the registry and the latest tracks keyed by (party, aircraft id),
an ICAO address no longer unique (the service keeps it one aircraft's within a party); raised
alerts' keys name aircraft as ``party/id``.

Before, ids and ICAO addresses were global and first-come: reporting another party's id was
refused, which told the reporter that the other party flies it, and let a party squat the
other's ids. Every row is kept: the old ids were unique, so each one becomes (its party, id).
Both tables are rebuilt (SQLite cannot change a primary key in place); the rows are read first
and written back in the same transaction.

Revision ID: 0006
Revises: 0005
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_PAIR_KINDS = ("conflict", "loss_of_separation")
_STATE = ("time", "lat", "lon", "altitude_m", "ground_speed_mps", "track_deg",
          "vertical_rate_mps", "received_at")


def _aircraft_table(*, per_party: bool) -> list[SchemaItem]:
    if per_party:
        return [sa.Column("party", sa.String(64), primary_key=True),
                sa.Column("id", sa.String(64), primary_key=True),
                sa.Column("icao24", sa.String(6), nullable=True),
                sa.Column("callsign", sa.String(16), nullable=True),
                sa.Column("operation_id", sa.String(36), nullable=True)]
    return [sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("party", sa.String(64), nullable=False),
            sa.Column("icao24", sa.String(6), nullable=True, unique=True),
            sa.Column("callsign", sa.String(16), nullable=True),
            sa.Column("operation_id", sa.String(36), nullable=True)]


def _track_table(*, per_party: bool) -> list[SchemaItem]:
    state = [sa.Column(name, sa.Double, nullable=False) for name in _STATE]
    if per_party:
        return [sa.Column("party", sa.String(64), primary_key=True),
                sa.Column("aircraft_id", sa.String(64), primary_key=True), *state]
    return [sa.Column("aircraft_id", sa.String(64), primary_key=True),
            sa.Column("party", sa.String(64), nullable=False), *state]


def _rebuild(name: str, items: list[SchemaItem]) -> None:
    """Replace table ``name`` by one of ``items``, keeping every row."""
    bind = op.get_bind()
    rows = [dict(r._mapping) for r in bind.execute(sa.text(f"SELECT * FROM {name}"))]
    op.drop_table(name)
    table = op.create_table(name, *items)
    if rows:
        op.bulk_insert(table, rows)


def _qualified_keys() -> None:
    """Raised alerts' keys name their aircraft as ``party/id`` (what the detection cycle now
    computes), so the cycle picks them up again after the upgrade instead of raising them anew."""
    bind = op.get_bind()
    raised = bind.execute(sa.text(
        "SELECT id, kind, key, details FROM alert WHERE state = 'raised'")).all()
    for alert_id, kind, key_text, details_text in raised:
        key = json.loads(key_text)
        sides = json.loads(details_text).get("aircraft", [])
        names = {s["aircraft_id"]: f"{s['party']}/{s['aircraft_id']}" for s in sides}
        aircraft_slots = (1, 2) if kind in _PAIR_KINDS else (1,)
        for slot in aircraft_slots:
            if slot < len(key) and key[slot] in names:
                key[slot] = names[key[slot]]
        if kind in _PAIR_KINDS and len(key) == 3 and key[2] < key[1]:
            key[1], key[2] = key[2], key[1]
        bind.execute(sa.text("UPDATE alert SET key = :key WHERE id = :id"),
                     {"key": json.dumps(key), "id": alert_id})


def upgrade() -> None:
    _rebuild("aircraft", _aircraft_table(per_party=True))
    op.create_index("ix_aircraft_icao24", "aircraft", ["icao24"])
    op.create_index("ix_aircraft_id", "aircraft", ["id"])
    _rebuild("track", _track_table(per_party=True))
    _qualified_keys()


def downgrade() -> None:
    # only possible while no id is used by two parties (the old key is the id alone)
    op.drop_index("ix_aircraft_id", "aircraft")
    op.drop_index("ix_aircraft_icao24", "aircraft")
    _rebuild("aircraft", _aircraft_table(per_party=False))
    _rebuild("track", _track_table(per_party=False))
