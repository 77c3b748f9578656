"""The audit table of submissions (``core.submit``): ``inspector_audit``, one row per applied step
keyed by its idempotency key, in the schema of the store's events table; tables defined without a
schema made once per schema (``core.approval``'s too), and the keys and rows already used."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .ownstore import UtcTime

AUDIT_TABLE = "inspector_audit"

_audit_md = sa.MetaData()
audit_table = sa.Table(
    AUDIT_TABLE, _audit_md,
    sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("plan_id", sa.String(36), nullable=False),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),
    sa.Column("command", sa.String(255), nullable=False),
    sa.Column("stream", sa.Text(), nullable=False),
    sa.Column("expected_version", sa.BigInteger(), nullable=True),
    sa.Column("event_ids", sa.Text(), nullable=False),  # JSON list
    sa.Column("positions", sa.Text(), nullable=False),  # JSON list
    sa.Column("compensates", sa.Text(), nullable=False),  # JSON list
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("submitter", sa.String(255), nullable=False),
    sa.Column("submitted_at", UtcTime(), nullable=False),
    # a table constraint, not a separate index: one CREATE TABLE statement makes the whole table
    sa.UniqueConstraint("idempotency_key", name="ux_inspector_audit_idempotency_key"),
    sqlite_autoincrement=True, mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
)
_in_schemas: dict[tuple[str, str | None], sa.Table] = {}


def schema_of_table(table: str) -> str | None:
    """The schema a qualified table name names (None: the connection's default)."""
    return table.rsplit(".", 1)[0] if "." in table else None


def audit_schema(store: Any) -> str | None:
    """The schema the audit table lives in: the events table's (None: the connection's default)."""
    return schema_of_table(getattr(store, "store", store).layout.table)


def table_in(table: sa.Table, schema: str | None) -> sa.Table:
    """``table`` (defined without a schema) in ``schema``, made once per schema."""
    key = (table.name, schema)
    if key not in _in_schemas:
        _in_schemas[key] = table if schema is None else table.to_metadata(sa.MetaData(), schema=schema)
    return _in_schemas[key]


def audit_table_for(schema: str | None) -> sa.Table:
    return table_in(audit_table, schema)


@dataclass(frozen=True)
class AuditRow:
    idempotency_key: str
    step: int
    actor: str
    submitted_at: dt.datetime
    positions: tuple[int, ...]
    plan_id: str

    def describe(self) -> str:
        return f"key used at {self.submitted_at.isoformat()} by {self.actor} (plan {self.plan_id}, step {self.step})"


def used_row(conn: Connection, table: sa.Table | None, key: str) -> AuditRow | None:
    if table is None:
        return None
    c = table.c
    row = conn.execute(sa.select(c.idempotency_key, c.step, c.actor, c.submitted_at, c.positions, c.plan_id)
                       .where(c.idempotency_key == key)).first()
    if row is None:
        return None
    return AuditRow(row[0], int(row[1]), row[2], row[3], tuple(int(p) for p in json.loads(row[4] or "[]")), row[5])


def used_keys(conn: Connection, store: Any) -> set[str]:
    """Every idempotency key in the store's audit table (empty when there is none yet)."""
    schema = audit_schema(store)
    if not conn.dialect.has_table(conn, AUDIT_TABLE, schema=schema):
        return set()
    t = audit_table_for(schema)
    return {r[0] for r in conn.execute(sa.select(t.c.idempotency_key))}
