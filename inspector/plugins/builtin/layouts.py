"""The built-in layout definitions: the inspector's own layout and five widely used stores
(facts in shared/docs/store-layouts.md). Each recognises itself in a reflected schema."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.core.detect import LayoutCandidate, score_columns
from inspector.core.layout import CommandLog, Layout
from inspector.core.schema import SchemaInfo, TableInfo
from inspector.plugins.hookspecs import hookimpl


def _col(t: TableInfo, name: str) -> str:
    """The table's own spelling of a column (PostgreSQL folds unquoted names to lower case)."""
    c = t.column(name)
    return c.name if c else name


def _cols(t: TableInfo, **fields: str) -> dict[str, str]:
    """Logical field -> the table's spelling, for the columns the table has."""
    out = {}
    for logical, spec in fields.items():
        if "->" in spec:
            col, path = spec.split("->", 1)
            if t.column(col):
                out[logical] = f"{_col(t, col)}->{path}"
        elif spec.startswith("sql:"):
            out[logical] = spec
        elif t.column(spec):
            out[logical] = _col(t, spec)
    return out


@dataclass(frozen=True)
class InspectorLayout:
    name: str = "inspector"
    title: str = "Inspector's own layout (demo store, forks)"

    def match(self, schema: SchemaInfo, engine) -> list[LayoutCandidate]:
        out = []
        for t in schema.find("inspector_events"):
            req = ("position", "stream", "version", "type", "recorded_at", "data")
            conf, reasons = score_columns(t, req, ("event_id", "metadata", "causation_id", "correlation_id", "actor"))
            if not conf:
                continue
            prefix = f"{t.schema}." if t.schema else ""
            cmd = None
            for c in schema.find("inspector_commands"):
                if c.schema == t.schema:
                    cmd = CommandLog.of(f"{prefix}{c.name}", command_id="command_id", type="type", actor="actor",
                                        issued_at="issued_at", payload="payload", correlation_id="correlation_id")
                    reasons.append(f"command log in {c.qualified}")
            fields = _cols(t, position="position", stream="stream", version="version", type="type",
                           recorded_at="recorded_at", event_id="event_id", causation_id="causation_id",
                           correlation_id="correlation_id", actor="actor", payload="data", metadata="metadata")
            out.append(LayoutCandidate(Layout.of(self.name, self.title, t.qualified, fields, commands=cmd),
                                       min(1.0, conf + 0.05), tuple(reasons)))
        return out


def _topic_class(dialect: str, col: str) -> str:
    """The aggregate class in an eventsourcing topic ``module:Aggregate.Event``."""
    if dialect == "postgresql":
        return f"sql:split_part(split_part(e.{col}, ':', 2), '.', 1)"
    if dialect == "mysql":
        return f"sql:SUBSTRING_INDEX(SUBSTRING_INDEX(e.`{col}`, ':', -1), '.', 1)"
    rest = f"substr(e.\"{col}\", instr(e.\"{col}\", ':') + 1)"
    return f"sql:(CASE WHEN instr({rest}, '.') > 0 THEN substr({rest}, 1, instr({rest}, '.') - 1) ELSE {rest} END)"


@dataclass(frozen=True)
class EventsourcingLayout:
    name: str = "eventsourcing"
    title: str = "Python eventsourcing library (application recorder)"

    def match(self, schema: SchemaInfo, engine) -> list[LayoutCandidate]:
        out = []
        for t in schema.tables:
            if not t.has("originator_id", "originator_version", "topic", "state"):
                continue
            reasons = [f"table {t.qualified} has originator_id, originator_version, topic, state"]
            if t.column("notification_id"):
                pos, conf = _col(t, "notification_id"), 0.95
                reasons.append("notification_id gives the global order")
            elif t.column("id") and t.column("id").primary_key:
                pos, conf = _col(t, "id"), 0.93
                reasons.append("id (eventsourcing-sqlalchemy) gives the global order")
            elif schema.dialect == "sqlite" and not t.without_rowid:
                pos, conf = "sql:e.rowid", 0.93
                reasons.append("SQLite rowid gives the global order")
            else:
                continue  # an aggregate or snapshot table: no global order to browse
            if t.name.lower().endswith("snapshots"):
                conf -= 0.3
                reasons.append("named like a snapshot table")
            elif t.name.lower().endswith("events"):
                reasons.append(f"named {t.name}")
            else:
                conf -= 0.05
            topic = _col(t, "topic")
            fields = {"position": pos, "stream": _col(t, "originator_id"), "version": _col(t, "originator_version"),
                      "type": topic, "payload": _col(t, "state"), "category": _topic_class(schema.dialect, topic)}
            layout = Layout.of(
                self.name, self.title, t.qualified, fields, time_kind="payload", time_payload_key="timestamp",
                lineage="none",
                notes=("event times live inside the encoded state, so time filters and the time histogram "
                       "are not available; the timeline is drawn by position",
                       "the library records no causation, correlation or actor"),
            )
            out.append(LayoutCandidate(layout, conf, tuple(reasons)))
        return out


@dataclass(frozen=True)
class MartenLayout:
    name: str = "marten"
    title: str = "Marten (.NET, PostgreSQL)"

    def match(self, schema: SchemaInfo, engine) -> list[LayoutCandidate]:
        out = []
        for t in schema.find("mt_events"):
            conf, reasons = score_columns(t, ("seq_id", "id", "stream_id", "version", "data", "type", "timestamp"),
                                          ("correlation_id", "causation_id", "headers", "user_name", "mt_dotnet_type"))
            if not conf:
                continue
            fields = _cols(t, position="seq_id", event_id="id", stream="stream_id", version="version", type="type",
                           recorded_at="timestamp", payload="data", metadata="headers", correlation_id="correlation_id",
                           causation_id="causation_id", actor="user_name")
            joins = ""
            streams = [s for s in schema.find("mt_streams") if s.schema == t.schema and s.has("id", "type")]
            if streams:
                joins = f"LEFT JOIN {'.'.join(chr(34) + p + chr(34) for p in streams[0].qualified.split('.'))} s ON s.id = e.stream_id"
                fields["category"] = "sql:s.type"
                reasons.append(f"stream types from {streams[0].qualified}")
            notes = ()
            if t.column("is_archived"):
                notes = ("archived events (is_archived) are shown with the rest",)
            out.append(LayoutCandidate(Layout.of(self.name, self.title, t.qualified, fields, joins=joins, notes=notes,
                                                 join_fields=("category",) if joins else ()),
                                       conf, tuple(reasons)))
        return out


@dataclass(frozen=True)
class MessageDBLayout:
    name: str = "message-db"
    title: str = "Message DB (Eventide, PostgreSQL)"

    def match(self, schema: SchemaInfo, engine) -> list[LayoutCandidate]:
        out = []
        for t in schema.find("messages"):
            conf, reasons = score_columns(t, ("global_position", "position", "stream_name", "type", "data", "time"),
                                          ("metadata", "id"))
            if not conf:
                continue
            if t.schema == "message_store":
                reasons.append("in schema message_store")
            else:
                conf -= 0.05
            fields = _cols(t, position="global_position", stream="stream_name", version="position", type="type",
                           recorded_at="time", payload="data", metadata="metadata", event_id="id",
                           causation_id="metadata->causationMessageGlobalPosition",
                           correlation_id="metadata->correlationStreamName")
            out.append(LayoutCandidate(
                Layout.of(self.name, self.title, t.qualified, fields, version_base=0, lineage="positions",
                          notes=("causation is a global position and correlation a stream name (Eventide metadata)",)),
                conf, tuple(reasons)))
        return out


@dataclass(frozen=True)
class RailsEventStoreLayout:
    name: str = "rails-event-store"
    title: str = "Rails Event Store (ruby_event_store-active_record)"

    def match(self, schema: SchemaInfo, engine) -> list[LayoutCandidate]:
        out = []
        for t in schema.find("event_store_events"):
            conf, reasons = score_columns(t, ("id", "event_id", "event_type", "data", "created_at"), ("metadata", "valid_at"))
            if not conf:
                if t.has("id", "event_type", "data") and not t.column("event_id"):
                    reasons = [f"{t.qualified} is the legacy v1 layout (uuid ids, no integer global order): not supported"]
                continue
            links = [s for s in schema.find("event_store_events_in_streams") if s.schema == t.schema]
            fields = _cols(t, position="id", event_id="event_id", type="event_type", recorded_at="created_at",
                           payload="data", metadata="metadata", correlation_id="metadata->correlation_id",
                           causation_id="metadata->causation_id")
            joins, join_fields = "", ()
            if links:
                q = '"' if schema.dialect != "mysql" else "`"
                ln = ".".join(f"{q}{p}{q}" for p in links[0].qualified.split("."))
                joins = (f"LEFT JOIN {ln} s ON s.id = (SELECT MIN(s2.id) FROM {ln} s2 WHERE s2.event_id = e.event_id)")
                fields["stream"] = "sql:s.stream"
                fields["version"] = "sql:s.position"
                join_fields = ("stream", "version", "category")
                reasons.append(f"streams from {links[0].qualified} (an event's first stream)")
            out.append(LayoutCandidate(
                Layout.of(self.name, self.title, t.qualified, fields, joins=joins, join_fields=join_fields,
                          version_base=0, stream_separator="$",
                          notes=("an event linked to several streams is listed under the first one",
                                 "YAML (binary) payloads are shown as text",
                                 "categories are stream names up to '$' (AggregateRoot's Class$id names)")),
                conf, tuple(reasons)))
        return out


@dataclass(frozen=True)
class AxonLayout:
    name: str = "axon"
    title: str = "Axon Framework (JDBC or JPA)"

    NAMINGS = (
        ("DomainEventEntry", "JDBC", dict(position="globalIndex", stream="aggregateIdentifier", version="sequenceNumber",
                                          category="type", event_id="eventIdentifier", metadata="metaData",
                                          payload="payload", type="payloadType", recorded_at="timeStamp")),
        ("domain_event_entry", "JPA", dict(position="global_index", stream="aggregate_identifier",
                                           version="sequence_number", category="type", event_id="event_identifier",
                                           metadata="meta_data", payload="payload", type="payload_type",
                                           recorded_at="time_stamp")),
    )

    def match(self, schema: SchemaInfo, engine) -> list[LayoutCandidate]:
        out = []
        for table_name, naming, cols in self.NAMINGS:
            for t in schema.find(table_name):
                req = tuple(cols[k] for k in ("position", "stream", "version", "event_id", "payload", "type", "recorded_at"))
                conf, reasons = score_columns(t, req, (cols["metadata"], cols["category"]))
                if not conf:
                    continue
                reasons.append(f"{naming} naming")
                fields = _cols(t, **cols)
                meta = _col(t, cols["metadata"])
                fields["correlation_id"] = f"{meta}->correlationId"
                fields["causation_id"] = f"{meta}->causationId"
                notes = ["sequence numbers start at 0; the aggregate type is shown as the category"]
                if (t.column(cols["payload"]).type == "oid"):
                    notes.append("payloads are PostgreSQL large objects (oid), read with lo_get")
                out.append(LayoutCandidate(
                    Layout.of(self.name, self.title, t.qualified, fields, time_kind="iso_text", version_base=0,
                              notes=tuple(notes)),
                    conf, tuple(reasons)))
        return out


BUILTIN_LAYOUTS = (InspectorLayout(), EventsourcingLayout(), MartenLayout(), MessageDBLayout(),
                   RailsEventStoreLayout(), AxonLayout())


@hookimpl
def register_layouts():
    """The built-in layout definitions."""
    return list(BUILTIN_LAYOUTS)
