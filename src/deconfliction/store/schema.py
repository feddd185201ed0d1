"""Tables, in SQLAlchemy Core: one schema for SQLite and PostgreSQL (and their kin).

Times are UTC seconds since the epoch (double precision); JSON columns are text, so the same
SQL runs on every backend. The spatial index is ``volume_cell``: plain integers (see
``engine.cells``), no engine-specific index type. The ledger's tables (``ledger_*``) hold its
entries, the complete nodes of its Merkle tree, its signed heads and its signing key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

party = Table(
    "party",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=True),
)

operation = Table(
    "operation",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(64), ForeignKey("party.name"), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("ovn", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("short_notice", Boolean, nullable=False),
    Column("callsigns", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_operation_owner_state", "owner", "state"),
)

airspace_constraint = Table(
    "airspace_constraint",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("authority", String(64), ForeignKey("party.name"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("applies_to", Text, nullable=True),
    Column("exempt", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("ovn", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

volume = Table(
    "volume",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("subject_kind", String(16), nullable=False),  # "operation" or "constraint"
    Column("subject_id", String(36), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("footprint", Text, nullable=False),  # GeoJSON-like, as declared
    Column("altitude_lower_m", Double, nullable=False),
    Column("altitude_upper_m", Double, nullable=False),
    Column("time_start", Double, nullable=False),
    Column("time_end", Double, nullable=False),
    Index("ix_volume_subject", "subject_kind", "subject_id", "ordinal"),
)

volume_cell = Table(
    "volume_cell",
    metadata,
    Column("cell", BigInteger, primary_key=True),
    Column("volume_id", BigInteger, primary_key=True),
    Index("ix_volume_cell_volume", "volume_id"),
)

event = Table(
    "event",
    metadata,
    Column("party", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("time", Double, nullable=False),
    Column("data", Text, nullable=False),
)

# An aircraft is (party, id): ids are each party's own, so two parties may use one id and
# neither learns it (migration 0006). An ICAO address is one aircraft's within a party: the
# service checks it in the registration's transaction (SERIALIZABLE on PostgreSQL: a racing
# registration is retried, then refused), so no constraint turns a race into an error.
aircraft = Table(
    "aircraft",
    metadata,
    Column("party", String(64), primary_key=True),  # a party's name, or "unidentified"
    Column("id", String(64), primary_key=True),
    Column("icao24", String(6), nullable=True),
    Column("callsign", String(16), nullable=True),
    Column("operation_id", String(36), nullable=True),
    Index("ix_aircraft_icao24", "icao24"),
    Index("ix_aircraft_id", "id"),
)

track = Table(
    "track",
    metadata,
    Column("party", String(64), primary_key=True),
    Column("aircraft_id", String(64), primary_key=True),
    Column("time", Double, nullable=False),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    Column("altitude_m", Double, nullable=False),
    Column("ground_speed_mps", Double, nullable=False),
    Column("track_deg", Double, nullable=False),
    Column("vertical_rate_mps", Double, nullable=False),
    Column("received_at", Double, nullable=False),
)

alert = Table(
    "alert",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("key", Text, nullable=False),
    Column("parties", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("raised_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("cleared_at", Double, nullable=True),
    Column("details", Text, nullable=False),
    Index("ix_alert_state", "state"),
)

alert_party = Table(
    "alert_party",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("party", String(64), primary_key=True),
    Index("ix_alert_party_party", "party"),
)

message = Table(
    "message",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sender", String(64), nullable=False),
    Column("addressee", String(64), nullable=False),  # a party's name, or "all"
    Column("urgency", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("refs", Text, nullable=False),
    Column("time", Double, nullable=False),
    Index("ix_message_sender", "sender"),
)

message_recipient = Table(
    "message_recipient",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("party", String(64), primary_key=True),
    Column("delivered_at", Double, nullable=True),
    Column("reply", String(16), nullable=True),
    Column("reply_text", Text, nullable=True),
    Column("replied_at", Double, nullable=True),
    Column("escalations", Integer, nullable=False),
    Column("escalate_at", Double, nullable=True),
    Index("ix_message_recipient_party", "party"),
    Index("ix_message_recipient_escalate_at", "escalate_at"),
)

party_link = Table(
    "party_link",
    metadata,
    Column("party", String(64), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("status_at", Double, nullable=True),
    Column("contacts", Text, nullable=False),
)

link_test = Table(
    "link_test",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sender", String(64), nullable=False),
    Column("time", Double, nullable=False),
)

link_test_ack = Table(
    "link_test_ack",
    metadata,
    Column("test_id", String(36), primary_key=True),
    Column("party", String(64), primary_key=True),
    Column("acked_at", Double, nullable=False),
)

webhook = Table(
    "webhook",
    metadata,
    Column("party", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),  # as given: it is needed to sign
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("delivered_seq", BigInteger, nullable=False),
    Column("delivered_at", Double, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", Double, nullable=True),
    Column("next_attempt_at", Double, nullable=True),
)

# The ledger (engine/merkle.py, engine/tree_head.py): a leaf per accepted write, written in the
# transaction of the change; nodes and signed heads are added off the write path.
ledger_leaf = Table(
    "ledger_leaf",
    metadata,
    # the 0-based leaf index; on SQLite the rowid itself, so an append writes one b-tree
    Column("idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("time", Double, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("parties", Text, nullable=False),  # JSON list of names; "all": every party
    Column("entry", LargeBinary, nullable=False),  # the RFC 8785 bytes the leaf hashes
    Column("leaf_hash", LargeBinary, nullable=False),
)

ledger_node = Table(
    "ledger_node",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("key_id", String(64), nullable=False),
)

ledger_state = Table(  # one row: how far the signer got; updating it claims the next head
    "ledger_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("signed_size", BigInteger, nullable=False),
)

ledger_key = Table(  # the line's Ed25519 signing key, kept with the data it signs
    "ledger_key",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("private_key_pem", Text, nullable=False),
    Column("created_at", Double, nullable=False),
)
