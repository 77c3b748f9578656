"""SQL that differs between SQLite, PostgreSQL and MariaDB/MySQL, in one place.

Everything here returns SQL text fragments; values always travel as bound parameters."""

from __future__ import annotations

from dataclasses import dataclass


def _json_path(path: str) -> list[str]:
    return [p for p in path.split(".") if p]


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite", "postgresql", "mysql" (MariaDB reports "mysql" through SQLAlchemy)

    # -- identifiers -----------------------------------------------------------------------
    def quote(self, ident: str) -> str:
        if self.name == "mysql":
            return "`" + ident.replace("`", "``") + "`"
        return '"' + ident.replace('"', '""') + '"'

    def table(self, name: str) -> str:
        """``schema.table`` or ``table``, each part quoted."""
        return ".".join(self.quote(p) for p in name.split("."))

    # -- JSON ------------------------------------------------------------------------------
    def json_text(self, expr: str, path: str, column_type: str = "json") -> str | None:
        """SQL that extracts a text value at ``path`` (dot separated) from a JSON column, or None
        where the column cannot be read as JSON by the database (binary or compressed payloads)."""
        parts = _json_path(path)
        if not parts:
            return None
        ctype = column_type.lower()
        if self.name == "postgresql":
            if "json" in ctype:
                base = expr
            elif ctype in ("text", "varchar", "character varying", "string"):
                base = f"CAST({expr} AS jsonb)"
            else:
                return None
            inner = "".join(f"->'{p}'" for p in parts[:-1])
            return f"({base}{inner}->>'{parts[-1]}')"
        if ctype in ("blob", "bytea", "binary", "varbinary", "longblob", "oid"):
            return None
        jpath = "$." + ".".join(f'"{p}"' for p in parts)
        if self.name == "mysql":
            return f"JSON_UNQUOTE(JSON_EXTRACT({expr}, '{jpath}'))"
        return f"json_extract({expr}, '{jpath}')"

    # -- time ------------------------------------------------------------------------------
    def epoch(self, expr: str, kind: str) -> str:
        """Seconds since 1970 (UTC) for a time column stored as ``kind``:
        timestamp (native; text on SQLite), iso_text, epoch_s, epoch_ms."""
        if kind == "epoch_s":
            return f"({expr})"
        if kind == "epoch_ms":
            return f"(({expr}) / 1000.0)"
        if self.name == "postgresql":
            if kind == "iso_text":
                return f"EXTRACT(EPOCH FROM CAST({expr} AS timestamptz))"
            # timestamp without time zone is UTC by the stores' own conventions
            return f"EXTRACT(EPOCH FROM {expr})"
        if self.name == "mysql":
            if kind == "iso_text":
                # a CAST, not STR_TO_DATE with '.%f': Java's Instant.toString() writes whole seconds
                # without a fraction ("…T09:00:00Z"), which STR_TO_DATE turns into NULL
                expr = f"CAST(REPLACE(REPLACE(LEFT({expr}, 26), 'T', ' '), 'Z', '') AS DATETIME(6))"
            # TIMESTAMPDIFF avoids the session time zone that UNIX_TIMESTAMP() applies
            return f"(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {expr}) / 1000000.0)"
        return f"((julianday({expr}) - 2440587.5) * 86400.0)"

    def bucket(self, epoch_sql: str, origin: float, width: float) -> str:
        """An integer bucket number for an epoch expression."""
        return f"FLOOR(({epoch_sql} - {origin!r}) / {width!r})"

    # -- streams ---------------------------------------------------------------------------
    def category_of(self, expr: str, separator: str) -> str:
        sep = separator.replace("'", "''")
        if self.name == "postgresql":
            return f"split_part(CAST({expr} AS text), '{sep}', 1)"
        if self.name == "mysql":
            return f"SUBSTRING_INDEX({expr}, '{sep}', 1)"
        return (
            f"(CASE WHEN instr({expr}, '{sep}') > 0 "
            f"THEN substr({expr}, 1, instr({expr}, '{sep}') - 1) ELSE {expr} END)"
        )

    def as_text(self, expr: str) -> str:
        if self.name == "postgresql":
            return f"CAST({expr} AS text)"
        if self.name == "mysql":
            return f"CAST({expr} AS CHAR)"
        return f"CAST({expr} AS TEXT)"

    # -- text search -----------------------------------------------------------------------
    def contains(self, expr: str, column_type: str, param: str) -> str:
        """Case-insensitive substring test of a payload column against the bound ``param``
        (a plain string; the caller adds no wildcards)."""
        ctype = column_type.lower()
        if self.name == "postgresql":
            if ctype in ("bytea", "oid"):
                # ``expr`` is already bytes (the store reads oid columns through lo_get). Bytes have
                # no lower(): match the exact UTF-8 bytes, or case-insensitively on the escaped text
                # (ASCII as is); convert_from() would fail on the first non-UTF-8 payload.
                return (
                    f"(position(convert_to(:{param}, 'UTF8') in {expr}) > 0"
                    f" OR strpos(lower(encode({expr}, 'escape')), lower(:{param})) > 0)"
                )
            return f"(strpos(lower(CAST({expr} AS text)), lower(:{param})) > 0)"
        if self.name == "mysql":
            return f"(LOCATE(LOWER(:{param}), LOWER(CONVERT({expr} USING utf8mb4))) > 0)"
        return f"(instr(lower(CAST({expr} AS TEXT)), lower(:{param})) > 0)"
