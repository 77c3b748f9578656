"""Reflection of a database's tables into plain values that layout detection can score."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys"}


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # lower-case type name as the database reports it: "bigint", "jsonb", "bytea", …
    nullable: bool
    primary_key: bool = False


@dataclass(frozen=True)
class TableInfo:
    schema: str | None  # None: the connection's default schema
    name: str
    columns: tuple[ColumnInfo, ...]
    unique: tuple[tuple[str, ...], ...] = ()  # column sets with a unique constraint or index
    without_rowid: bool = False  # SQLite tables declared WITHOUT ROWID

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def column(self, name: str) -> ColumnInfo | None:
        """Case-insensitive column lookup (PostgreSQL folds unquoted names to lower case)."""
        low = name.lower()
        for c in self.columns:
            if c.name.lower() == low:
                return c
        return None

    def has(self, *names: str) -> bool:
        return all(self.column(n) for n in names)

    def types(self) -> dict[str, str]:
        return {c.name.lower(): c.type for c in self.columns}


@dataclass(frozen=True)
class SchemaInfo:
    dialect: str
    tables: tuple[TableInfo, ...]
    unreadable: tuple[str, ...] = ()  # "table: why" for tables whose structure could not be read

    def find(self, name: str) -> list[TableInfo]:
        low = name.lower()
        return [t for t in self.tables if t.name.lower() == low]

    def get(self, qualified: str) -> TableInfo | None:
        low = qualified.lower()
        for t in self.tables:
            if t.qualified.lower() == low or (t.schema and t.name.lower() == low and t.schema == "public"):
                return t
        return None


def _type_name(t: sa.types.TypeEngine) -> str:
    try:
        s = str(t)
    except Exception:
        s = type(t).__name__
    name = s.split("(")[0].strip().lower()
    if getattr(t, "timezone", False) and name in ("timestamp", "datetime"):
        # str() drops the zone; readers must know it (naive bounds on a timestamptz column are
        # read in the session's time zone)
        return "timestamptz"
    return name


def reflect(engine: Engine) -> SchemaInfo:
    insp = sa.inspect(engine)
    dialect = engine.dialect.name
    default = insp.default_schema_name
    if dialect == "postgresql":
        schemas = [s for s in insp.get_schema_names() if s not in SYSTEM_SCHEMAS and not s.startswith("pg_")]
    else:
        schemas = [default]
    tables: list[TableInfo] = []
    unreadable: list[str] = []
    for schema in schemas:
        for name in insp.get_table_names(schema=schema):
            try:
                cols = insp.get_columns(name, schema=schema)
                pk = set(insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or [])
                uniques = [tuple(u["column_names"]) for u in insp.get_unique_constraints(name, schema=schema)]
                uniques += [tuple(i["column_names"]) for i in insp.get_indexes(name, schema=schema) if i.get("unique")]
            except sa.exc.SQLAlchemyError as e:
                # one table we may not read (permissions, a broken view) must not hide the others;
                # keep why, so "no event table found" can say what it could not look at
                from .connect import describe_error

                unreadable.append(f"{schema + '.' if schema and schema != default else ''}{name}: {describe_error(e)}")
                continue
            if pk:
                uniques.append(tuple(c["name"] for c in cols if c["name"] in pk))
            without_rowid = False
            if dialect == "sqlite":
                with engine.connect() as conn:
                    sql = conn.execute(
                        sa.text("SELECT sql FROM sqlite_master WHERE type='table' AND name=:n"), {"n": name}
                    ).scalar()
                without_rowid = bool(sql and "without rowid" in sql.lower())
            tables.append(
                TableInfo(
                    schema=None if schema in (default, None) else schema,
                    name=name,
                    columns=tuple(
                        ColumnInfo(c["name"], _type_name(c["type"]), bool(c.get("nullable", True)), c["name"] in pk)
                        for c in cols
                    ),
                    unique=tuple(dict.fromkeys(u for u in uniques if u)),
                    without_rowid=without_rowid,
                )
            )
    return SchemaInfo(dialect, tuple(tables), tuple(unreadable))
