"""Layouts: where each logical field of an event (and of a command log) lives in a store's tables,
and the TOML mapping files that describe layouts the inspector does not know.

A field is written as a small string so mapping files stay readable:
``"column"``, ``"column->a.b"`` (a JSON path inside a column) or ``"sql:<expression>"``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from .errors import MappingFileError
from .model import COMMAND_FIELDS, EVENT_FIELDS

TIME_KINDS = ("timestamp", "iso_text", "epoch_s", "epoch_ms", "payload", "none")
LINEAGE_KINDS = ("ids", "positions", "none")


@dataclass(frozen=True)
class FieldRef:
    """Where one logical field lives."""

    column: str | None = None
    path: str | None = None  # JSON path inside ``column``
    sql: str | None = None  # a raw SQL expression over the table alias ``e``

    @classmethod
    def parse(cls, spec: str) -> "FieldRef":
        spec = spec.strip()
        if spec.startswith("sql:"):
            return cls(sql=spec[4:].strip())
        if "->" in spec:
            col, path = spec.split("->", 1)
            return cls(column=col.strip(), path=path.strip())
        return cls(column=spec)

    def spec(self) -> str:
        if self.sql is not None:
            return "sql:" + self.sql
        if self.path:
            return f"{self.column}->{self.path}"
        return self.column or ""


def _refs(fields: Mapping[str, str | FieldRef]) -> dict[str, FieldRef]:
    return {k: v if isinstance(v, FieldRef) else FieldRef.parse(v) for k, v in fields.items() if v}


@dataclass(frozen=True)
class CommandLog:
    """A store's own record of commands (who asked for what), where it keeps one."""

    table: str
    fields: Mapping[str, FieldRef]
    time_kind: str = "timestamp"

    @classmethod
    def of(cls, table: str, time_kind: str = "timestamp", **fields: str) -> "CommandLog":
        return cls(table, _refs(fields), time_kind)


@dataclass(frozen=True)
class Layout:
    """Where each logical field lives. ``table`` may be ``schema.table``; ``joins`` is extra FROM
    text after ``<table> e``; ``column_types`` holds reflected column types (lower case), used to
    decide which filters the database can evaluate."""

    name: str
    title: str
    table: str
    fields: Mapping[str, FieldRef]
    time_kind: str = "timestamp"
    time_payload_key: str | None = None  # with time_kind "payload": the payload key holding the time
    stream_separator: str = "-"
    joins: str = ""
    join_fields: tuple[str, ...] = ()  # logical fields that live in the joined tables
    version_base: int = 1
    lineage: str = "ids"
    commands: CommandLog | None = None
    column_types: Mapping[str, str] = field(default_factory=dict, compare=False)
    # where the position column is not unique: SQL over alias ``e`` that orders rows sharing a
    # position (SQLite rowid, PostgreSQL ctid, another unique column), set from the database
    tiebreak: str | None = field(default=None, compare=False)
    position_unique: bool = field(default=True, compare=False)
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, title: str, table: str, fields: Mapping[str, str], **kw: Any) -> "Layout":
        return cls(name=name, title=title, table=table, fields=_refs(fields), **kw)

    def ref(self, logical: str) -> FieldRef | None:
        return self.fields.get(logical)

    def has(self, logical: str) -> bool:
        return logical in self.fields

    def with_types(self, column_types: Mapping[str, str]) -> "Layout":
        return replace(self, column_types={k.lower(): v.lower() for k, v in column_types.items()})

    def columns_used(self) -> set[str]:
        cols = {r.column for r in self.fields.values() if r.column}
        return cols

    # -- mapping files --------------------------------------------------------------------
    def to_mapping(self) -> dict[str, Any]:
        layout: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "table": self.table,
            "time_kind": self.time_kind,
            "stream_separator": self.stream_separator,
            "version_base": self.version_base,
            "lineage": self.lineage,
        }
        if self.time_payload_key:
            layout["time_payload_key"] = self.time_payload_key
        if self.joins:
            layout["joins"] = self.joins
            layout["join_fields"] = list(self.join_fields)
        if self.notes:
            layout["notes"] = list(self.notes)
        doc: dict[str, Any] = {"layout": layout, "fields": {k: v.spec() for k, v in self.fields.items()}}
        if self.commands:
            doc["commands"] = {
                "table": self.commands.table,
                "time_kind": self.commands.time_kind,
                "fields": {k: v.spec() for k, v in self.commands.fields.items()},
            }
        return doc

    def to_toml(self, header: str = "") -> str:
        body = tomli_w.dumps(self.to_mapping())
        return (header + "\n" if header else "") + body

    def save(self, path: str | Path, header: str = "") -> None:
        Path(path).write_text(self.to_toml(header), encoding="utf-8")


LAYOUT_KEYS = ("name", "title", "table", "time_kind", "time_payload_key", "stream_separator", "joins",
               "join_fields", "version_base", "lineage", "notes")
DOC_KEYS = ("layout", "fields", "commands")


def _check_specs(fields: Mapping[str, Any], where: str, source: str) -> None:
    """Each field must be one of the three forms, with no empty part."""
    for k, v in fields.items():
        if not isinstance(v, str) or not v.strip():
            raise MappingFileError(f"{source}: {where} field {k} must be a non-empty string, such as \"column\"")
        ref = FieldRef.parse(v)
        if ref.sql is not None and not ref.sql:
            raise MappingFileError(f"{source}: {where} field {k} = {v!r} has no SQL after \"sql:\"")
        if ref.sql is None and (not ref.column or (v.find("->") >= 0 and not ref.path)):
            raise MappingFileError(
                f"{source}: {where} field {k} = {v!r} is not \"column\", \"column->json.path\" or \"sql:<expression>\""
            )


def layout_from_mapping(doc: Mapping[str, Any], source: str = "mapping") -> Layout:
    """Build a Layout from a parsed mapping document, checking its shape (not the database)."""
    lay = doc.get("layout")
    if not isinstance(lay, Mapping):
        raise MappingFileError(f"{source}: missing [layout] table")
    extra = sorted(set(doc) - set(DOC_KEYS))
    if extra:
        raise MappingFileError(f"{source}: unknown section(s) {', '.join(extra)}; a mapping has [layout], [fields] "
                               "and optionally [commands]")
    extra = sorted(set(lay) - set(LAYOUT_KEYS))
    if extra:
        raise MappingFileError(f"{source}: unknown key(s) in [layout]: {', '.join(extra)}; known keys: "
                               f"{', '.join(LAYOUT_KEYS)}")
    table = lay.get("table")
    if not table or not isinstance(table, str):
        raise MappingFileError(f"{source}: [layout] needs table = \"name\" (or \"schema.name\")")
    fields = doc.get("fields")
    if not isinstance(fields, Mapping):
        raise MappingFileError(f"{source}: missing [fields] table")
    unknown = sorted(set(fields) - set(EVENT_FIELDS))
    if unknown:
        raise MappingFileError(
            f"{source}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(EVENT_FIELDS)}"
        )
    _check_specs(fields, "[fields]", source)
    if "position" not in fields:
        raise MappingFileError(f"{source}: [fields] needs position = \"<column>\" (the global order)")
    time_kind = lay.get("time_kind", "timestamp")
    if time_kind not in TIME_KINDS:
        raise MappingFileError(f"{source}: time_kind must be one of {', '.join(TIME_KINDS)}, not {time_kind!r}")
    time_payload_key = lay.get("time_payload_key")
    if time_payload_key is not None and (not isinstance(time_payload_key, str) or not time_payload_key):
        raise MappingFileError(f"{source}: time_payload_key must be the payload key holding the time, as a string")
    lineage = lay.get("lineage", "ids")
    if lineage not in LINEAGE_KINDS:
        raise MappingFileError(f"{source}: lineage must be one of {', '.join(LINEAGE_KINDS)}, not {lineage!r}")
    separator = lay.get("stream_separator", "-")
    if not isinstance(separator, str) or not separator:
        raise MappingFileError(f"{source}: stream_separator must be a non-empty string, such as \"-\"")
    join_fields = lay.get("join_fields", [])
    if not isinstance(join_fields, list) or not all(isinstance(j, str) for j in join_fields):
        raise MappingFileError(f"{source}: join_fields must be a list of field names, such as [\"stream\"]")
    bad_joins = sorted(set(join_fields) - set(EVENT_FIELDS))
    if bad_joins:
        raise MappingFileError(f"{source}: join_fields names unknown field(s) {', '.join(bad_joins)}")
    notes = lay.get("notes", [])
    if isinstance(notes, str):
        notes = [notes]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise MappingFileError(f"{source}: notes must be a list of strings")
    commands = None
    if "commands" in doc:
        c = doc["commands"]
        cf = c.get("fields", {}) if isinstance(c, Mapping) else {}
        if not isinstance(c, Mapping) or not c.get("table") or not isinstance(cf, Mapping):
            raise MappingFileError(f"{source}: [commands] needs table and [commands.fields]")
        bad = sorted(set(cf) - set(COMMAND_FIELDS))
        if bad:
            raise MappingFileError(
                f"{source}: unknown command field(s) {', '.join(bad)}; known: {', '.join(COMMAND_FIELDS)}"
            )
        _check_specs(cf, "[commands.fields]", source)
        ctime = c.get("time_kind", "timestamp")
        if ctime not in TIME_KINDS:
            raise MappingFileError(
                f"{source}: [commands] time_kind must be one of {', '.join(TIME_KINDS)}, not {ctime!r}"
            )
        commands = CommandLog(str(c["table"]), _refs(cf), ctime)
    version_base = lay.get("version_base", 1)
    if isinstance(version_base, bool) or version_base not in (0, 1):
        raise MappingFileError(f"{source}: version_base must be 0 or 1 (the first version of a stream), "
                               f"not {version_base!r}")
    return Layout(
        name=str(lay.get("name", "custom")),
        title=str(lay.get("title", lay.get("name", "Custom mapping"))),
        table=table,
        fields=_refs(fields),
        time_kind=time_kind,
        time_payload_key=time_payload_key,
        stream_separator=separator,
        joins=str(lay.get("joins", "")),
        join_fields=tuple(join_fields),
        version_base=int(version_base),
        lineage=lineage,
        commands=commands,
        notes=tuple(notes),
    )


def load_mapping(path: str | Path) -> Layout:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingFileError(f"mapping file not found: {p}")
    except UnicodeDecodeError as e:
        raise MappingFileError(f"mapping file {p} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})")
    except OSError as e:
        raise MappingFileError(f"cannot read mapping file {p}: {e.strerror}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MappingFileError(f"mapping file {p} is not valid TOML: {e}")
    return layout_from_mapping(doc, source=str(p))
