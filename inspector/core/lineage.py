"""Command lineage: the causation graph of a correlation, or around one event (its ancestry up to
the originating command and actor, and its descendants, the blast radius), across streams, with
actor and time on every node.

Each layout says what its lineage fields hold (``Layout.lineage``): ``ids`` (a causation id names
a command or an event by id), ``positions`` (Message DB: the global position of the causing
message; the correlation is a stream name) or ``none`` (an empty graph that says why). The root is
the originating command where the layout keeps a command log, otherwise the first event of the
chain stands in (``root_source``). Every lookup is SQL: the store's own correlation filter, and
batches of at most 500 values in ``IN (...)`` lists on causation, event id or position; the
selected columns are only the lineage fields (no payloads), so a graph of thousands of nodes reads
little. ``MAX_NODES`` caps a graph (``truncated``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .command_log import RecordedCommand, batches, commands_for_correlation, find_commands, id_match
from .errors import InspectorError
from .model import EventFilter
from .rows import parse_time, text
from .store import EventStore

MAX_NODES = 50_000  # safety cap on the nodes of one graph
MAX_HOPS = 10_000  # causes followed upwards from one event (a guard against corrupt chains)
FORMAT = "inspector-lineage/1"
_FIELDS = ("position", "stream", "version", "type", "recorded_at", "event_id", "causation_id", "correlation_id", "actor")
_UTC = dt.timezone.utc


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A command (``kind="command"``, ``id`` its command id, no position) or an event (``id`` its
    event id, or its position as text where events carry no id). ``at`` is the issue or record time
    (aware UTC); ``causation_id`` is what the store records as the cause (an id, or a position)."""

    kind: str
    id: str
    position: int | None
    stream: str | None
    type: str | None
    actor: str | None
    at: dt.datetime | None
    correlation_id: str | None
    causation_id: str | None
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "position": self.position, "stream": self.stream,
                "version": self.version, "type": self.type, "actor": self.actor,
                "at": self.at.isoformat() if self.at else None, "correlation_id": self.correlation_id,
                "causation_id": self.causation_id}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "LineageNode":
        at = d.get("at")
        return cls(d["kind"], d["id"], d.get("position"), d.get("stream"), d.get("type"), d.get("actor"),
                   dt.datetime.fromisoformat(at) if at else None, d.get("correlation_id"), d.get("causation_id"),
                   d.get("version"))

    @classmethod
    def of_command(cls, c: RecordedCommand) -> "LineageNode":
        return cls("command", c.command_id, None, None, c.type, c.actor, c.issued_at, c.correlation_id, None)

    def label(self) -> str:
        """One line: ``PlaceOrder by customer:12 at 2026-10-18T09:12:03Z [command c-1]`` or
        ``OrderPlaced order-7@1 by customer:12 at 2026-10-18T09:12:04Z #1234``."""
        parts = [self.type or "?"]
        if self.kind == "event" and self.stream:
            parts.append(self.stream + (f"@{self.version}" if self.version is not None else ""))
        if self.actor:
            parts.append(f"by {self.actor}")
        if self.at:
            parts.append("at " + self.at.astimezone(_UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
        parts.append(f"[command {self.id}]" if self.kind == "command" else f"#{self.position}")
        return " ".join(parts)

    def sort_key(self) -> tuple:
        if self.kind == "command":
            return (0, self.at.timestamp() if self.at else float("-inf"), self.id)
        return (1, self.position if self.position is not None else 0, self.id)


@dataclass(frozen=True)
class LineageGraph:
    """A causation graph. ``edges`` are (parent id, child id) pairs, one parent per child; ``roots``
    are the nodes without a recorded (or found) cause, originating commands first. ``focus`` is the
    event asked about (event lineage); ``root_source`` is "command" where the first root comes from
    the command log, "first_event" where an event stands in. ``missing_causes`` are recorded causes
    not found in the store. ``explanation`` says what a reader should know (no lineage, no command
    log, a cap reached); None when there is nothing to say."""

    roots: tuple[str, ...]
    nodes: tuple[LineageNode, ...]
    edges: tuple[tuple[str, str], ...]
    explanation: str | None = None
    truncated: bool = False
    focus: str | None = None
    root_source: str | None = None
    missing_causes: tuple[str, ...] = ()
    layout: str = ""
    lineage: str = ""
    query: Mapping[str, Any] = field(default_factory=dict)

    # -- navigation --------------------------------------------------------------------------
    @cached_property
    def _by_id(self) -> dict[str, LineageNode]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def _parent(self) -> dict[str, str]:
        return {c: p for p, c in self.edges}

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p, c in self.edges:
            out.setdefault(p, []).append(c)
        for p, cs in out.items():
            cs.sort(key=lambda i: self._by_id[i].sort_key() if i in self._by_id else (2, 0, i))
        return out

    def node(self, node_id: str) -> LineageNode | None:
        return self._by_id.get(node_id)

    def parent(self, node_id: str) -> LineageNode | None:
        p = self._parent.get(node_id)
        return self._by_id.get(p) if p is not None else None

    def children(self, node_id: str) -> tuple[LineageNode, ...]:
        return tuple(self._by_id[c] for c in self._children.get(node_id, ()) if c in self._by_id)

    def ancestry(self, node_id: str) -> tuple[LineageNode, ...]:
        """From the root down to ``node_id`` (inclusive)."""
        chain, seen, cur = [], set(), node_id
        while cur is not None and cur not in seen and cur in self._by_id:
            seen.add(cur)
            chain.append(self._by_id[cur])
            cur = self._parent.get(cur)
        return tuple(reversed(chain))

    def descendants(self, node_id: str) -> tuple[LineageNode, ...]:
        """Everything ``node_id`` caused, directly or not, breadth first."""
        out, seen, frontier = [], {node_id}, [node_id]
        while frontier:
            nxt = []
            for n in frontier:
                for c in self._children.get(n, ()):
                    if c not in seen and c in self._by_id:
                        seen.add(c)
                        out.append(self._by_id[c])
                        nxt.append(c)
            frontier = nxt
        return tuple(out)

    # -- output ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (field names are stable)::

            {"format": "inspector-lineage/1", "layout": "inspector", "lineage": "ids",
             "query": {"correlation_id": "..."} | {"event_id": "..."} | {"position": 12},
             "focus": node id | null, "roots": [node id, ...], "root_source": "command" | "first_event" | null,
             "nodes": [{"kind": "command" | "event", "id", "position", "stream", "version", "type", "actor",
                        "at" (ISO 8601 with offset), "correlation_id", "causation_id"}, ...],
             "edges": [{"parent": node id, "child": node id}, ...],
             "missing_causes": [...], "explanation": text | null, "truncated": false}"""
        return {
            "format": FORMAT,
            "layout": self.layout,
            "lineage": self.lineage,
            "query": dict(self.query),
            "focus": self.focus,
            "roots": list(self.roots),
            "root_source": self.root_source,
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [{"parent": p, "child": c} for p, c in self.edges],
            "missing_causes": list(self.missing_causes),
            "explanation": self.explanation,
            "truncated": self.truncated,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "LineageGraph":
        if doc.get("format") != FORMAT:
            raise InspectorError(f"not a lineage document (format {doc.get('format')!r}, expected {FORMAT!r})")
        return cls(
            roots=tuple(doc["roots"]), nodes=tuple(LineageNode.from_json(n) for n in doc["nodes"]),
            edges=tuple((e["parent"], e["child"]) for e in doc["edges"]), explanation=doc.get("explanation"),
            truncated=bool(doc.get("truncated")), focus=doc.get("focus"), root_source=doc.get("root_source"),
            missing_causes=tuple(doc.get("missing_causes", ())), layout=doc.get("layout", ""),
            lineage=doc.get("lineage", ""), query=dict(doc.get("query", {})),
        )

    def render_tree(self, indent: str = "  ") -> str:
        """An indented text tree, each node under its cause; the focus is marked ``<= this event``."""
        lines: list[str] = []
        seen: set[str] = set()
        stack = [(r, 0) for r in reversed(self.roots)]
        while stack:
            nid, depth = stack.pop()
            if nid in seen or nid not in self._by_id:
                continue
            seen.add(nid)
            mark = "  <= this event" if nid == self.focus else ""
            lines.append(f"{indent * depth}{self._by_id[nid].label()}{mark}")
            stack.extend((c, depth + 1) for c in reversed(self._children.get(nid, ())))
        if self.truncated:
            lines.append(f"... truncated at {len(self.nodes)} nodes")
        if self.explanation:
            lines.append(f"note: {self.explanation}")
        return "\n".join(lines)


# -- building graphs -----------------------------------------------------------------------------


def _no_lineage(store: EventStore) -> str:
    lay = store.layout
    who = "the eventsourcing library keeps none" if lay.name == "eventsourcing" else f"layout {lay.name} maps none"
    return f"this store records no causation or correlation ({who})"


def _unreadable(store: EventStore, logical: str, what: str) -> str | None:
    """Why the database cannot evaluate a lineage field, or None where it can."""
    if store.expr(logical) is not None:
        return None
    if not store.layout.has(logical):
        return f"layout {store.layout.name} maps no {what}"
    return f"layout {store.layout.name} keeps {what}s inside metadata the database cannot read"


class _Walk:
    """One graph being built: the nodes found so far and what their causes refer to."""

    def __init__(self, store: EventStore, conn: Connection, cap: int):
        self.store, self.conn, self.cap = store, conn, max(1, int(cap))
        lay = store.layout
        self.kind = lay.lineage
        self.nodes: dict[str, LineageNode] = {}
        self.refs: dict[str, str] = {}  # a value a causation can hold -> the node id it names
        self.missing: dict[str, None] = {}
        self.truncated = False
        q = store.dialect
        self.payload_time = (lay.time_payload_key or "timestamp") if lay.time_kind == "payload" else None
        cols = []
        for f in _FIELDS:
            e = store.expr(f)
            if f == "recorded_at":
                e = (store.expr("payload") if self.payload_time else None) if lay.time_kind in ("payload", "none") else e
            cols.append(f"{e if e is not None else 'NULL'} AS l_{f}")
        self.select = ", ".join(cols)
        self.from_ = f"{q.table(lay.table)} e {lay.joins}".strip()
        self.unit = 1000 if lay.time_kind == "epoch_ms" else 1

    # -- SQL ---------------------------------------------------------------------------------
    def fetch(self, where: str, params: dict[str, Any]) -> list[LineageNode]:
        sql = (f"SELECT {self.select} FROM {self.from_} WHERE {where} "
               f"ORDER BY {self.store.expr('position')} LIMIT {self.cap + 1}")
        return [self._node(r) for r in self.conn.execute(sa.text(sql), params)]

    def _node(self, r: Any) -> LineageNode:
        pos, stream, version, etype, at, event_id, cause, corr, actor = r
        if self.payload_time:
            data = self.store.codecs.decode(at).value
            at = data.get(self.payload_time) if isinstance(data, dict) else None
        eid = text(event_id)
        return LineageNode("event", eid if eid is not None else str(int(pos)), int(pos), text(stream),
                           text(etype), text(actor), parse_time(at, self.unit), text(corr), text(cause),
                           int(version) if version is not None else None)

    def match(self, logical: str, values: Iterable[Any], prefix: str) -> tuple[str, dict[str, Any]]:
        ref = self.store.layout.ref(logical)
        plain = ref is not None and ref.column is not None and not ref.path
        ctype = self.store.column_type(logical) if plain else None
        if logical == "position":  # an expression such as SQLite's rowid is still an integer
            plain, ctype = True, "bigint"
        return id_match(self.store.dialect, self.store.expr(logical), ctype, values, prefix, plain)

    def events_where(self, logical: str, values: Iterable[Any], extra: tuple[str, dict] | None = None
                     ) -> list[LineageNode]:
        out: list[LineageNode] = []
        for chunk in batches(list(dict.fromkeys(values))):
            where, params = self.match(logical, chunk, "v_")
            if extra:
                where, params = f"{where} AND {extra[0]}", {**params, **extra[1]}
            out += self.fetch(where, params)
        return out

    # -- growing the graph -------------------------------------------------------------------
    def add(self, nodes: Iterable[LineageNode]) -> list[LineageNode]:
        new = []
        for n in nodes:
            if n.id in self.nodes:
                continue
            if len(self.nodes) >= self.cap:
                self.truncated = True
                break
            self.nodes[n.id] = n
            self.refs[self.key(n) or n.id] = n.id
            new.append(n)
        return new

    def key(self, n: LineageNode) -> str | None:
        """The value a child's causation holds to name ``n``."""
        if self.kind == "positions" and n.kind == "event":
            return str(n.position)
        return n.id

    def ancestors(self, nodes: Iterable[LineageNode]) -> None:
        """Follow recorded causes upwards (batched per level) until each chain ends."""
        frontier = list(nodes)
        for _ in range(MAX_HOPS):
            refs = list(dict.fromkeys(n.causation_id for n in frontier if n.causation_id and
                                      n.causation_id not in self.refs and n.causation_id not in self.missing))
            if not refs or self.truncated:
                return
            if self.kind == "positions":
                found = self.events_where("position", [r for r in refs if r.lstrip("-").isdigit()])
            else:
                found = self.events_where("event_id", refs)
                ids = {n.id for n in found}
                rest = [r for r in refs if r not in ids]
                found += [LineageNode.of_command(c) for c in find_commands(self.store, rest, self.conn).values()]
            frontier = self.add(found)
            if not self.truncated:
                self.missing.update((r, None) for r in refs if r not in self.refs)

    def descendants(self, nodes: Iterable[LineageNode], extra: tuple[str, dict] | None = None) -> None:
        """Breadth first: the events whose causation names a node of the frontier."""
        frontier = list(nodes)
        while frontier and not self.truncated:
            keys = [k for k in (self.key(n) for n in frontier) if k is not None]
            frontier = self.add(self.events_where("causation_id", keys, extra))

    # -- the result --------------------------------------------------------------------------
    def graph(self, stand_in: str, notes: list[str], **kw: Any) -> LineageGraph:
        """The finished graph; ``stand_in`` names what stands in for a missing originating command."""
        nodes = sorted(self.nodes.values(), key=LineageNode.sort_key)
        edges = []
        for n in nodes:
            p = self.refs.get(n.causation_id) if n.causation_id else None
            if p is not None and p != n.id:
                edges.append((p, n.id))
        roots = _roots(nodes, edges)
        source = None
        if roots:
            source = "command" if self.nodes[roots[0]].kind == "command" else "first_event"
        if source == "first_event":
            why = ("this store keeps no command log" if self.store.layout.commands is None
                   else "the command log holds no originating command")
            notes.insert(0, f"{why}: the {stand_in} stands in as the root")
        if self.missing:
            shown = ", ".join(list(self.missing)[:5]) + (" ..." if len(self.missing) > 5 else "")
            notes.append(f"{len(self.missing)} recorded cause(s) not found in this store: {shown}")
        if self.truncated:
            notes.append(f"stopped at {self.cap} nodes (the safety cap): the graph is incomplete")
        return LineageGraph(tuple(roots), tuple(nodes), tuple(edges), "; ".join(notes) or None, self.truncated,
                            root_source=source, missing_causes=tuple(self.missing), layout=self.store.layout.name,
                            lineage=self.kind, **kw)


def _roots(nodes: list[LineageNode], edges: list[tuple[str, str]]) -> list[str]:
    """Nodes without a parent, in node order; a node on a cycle of corrupt causes is made a root too
    so every node is reachable."""
    has_parent = {c for _, c in edges}
    children: dict[str, list[str]] = {}
    for p, c in edges:
        children.setdefault(p, []).append(c)
    roots = [n.id for n in nodes if n.id not in has_parent]
    seen: set[str] = set()

    def reach(start: str) -> None:
        stack = [start]
        while stack:
            x = stack.pop()
            if x not in seen:
                seen.add(x)
                stack.extend(children.get(x, ()))

    for r in roots:
        reach(r)
    for n in nodes:
        if n.id not in seen:
            roots.append(n.id)
            reach(n.id)
    return roots


def _empty(store: EventStore, why: str, **kw: Any) -> LineageGraph:
    return LineageGraph((), (), (), why, layout=store.layout.name, lineage=store.layout.lineage, **kw)


def correlation_lineage(store: EventStore, correlation_id: str, *, follow: bool = True,
                        max_nodes: int = MAX_NODES) -> LineageGraph:
    """The causation graph of one correlation (Message DB: a correlation stream name): its commands
    from the command log, its events (the store's correlation filter), the causes of those events
    recorded outside the correlation, and, with ``follow``, the events they caused that carry another
    correlation (a breadth-first ``causation IN (...)`` walk)."""
    query = {"correlation_id": correlation_id}
    if store.layout.lineage == "none":
        return _empty(store, _no_lineage(store), query=query)
    why = _unreadable(store, "correlation_id", "correlation id")
    if why:
        return _empty(store, f"cannot follow a correlation: {why}", query=query)
    notes: list[str] = []
    with store.engine.connect() as conn:
        w = _Walk(store, conn, max_nodes)
        w.add(LineageNode.of_command(c) for c in commands_for_correlation(store, correlation_id, conn, max_nodes + 1))
        where, params = store.where(EventFilter(correlation_id=correlation_id))
        own = w.add(w.fetch(where[len(" WHERE "):], params))
        cause_why = _unreadable(store, "causation_id", "causation id") or _ids_unusable(store)
        if cause_why:
            notes.append(f"causes cannot be followed ({cause_why}): events are listed without them")
        else:
            w.ancestors(own)
            if follow and not w.truncated:
                corr = store.dialect.as_text(store.expr("correlation_id"))
                mine = [n for n in w.nodes.values() if n.correlation_id == correlation_id]
                w.descendants(mine, (f"({corr} IS NULL OR {corr} <> :x_corr)",
                                                       {"x_corr": correlation_id}))
    if not w.nodes:
        return _empty(store, f"no events or commands carry correlation id {correlation_id!r}", query=query)
    return w.graph("first event of the correlation", notes, query=query)


def _ids_unusable(store: EventStore) -> str | None:
    if store.layout.lineage == "ids" and store.expr("event_id") is None:
        return f"layout {store.layout.name} gives events no id a cause could name"
    return None


def event_lineage(store: EventStore, event_id: str | None = None, *, position: int | None = None,
                  max_nodes: int = MAX_NODES) -> LineageGraph:
    """One event's ancestry (cause by cause up to the originating command and its actor) and its
    descendants (everything it caused, across streams). Give the event id or the position.
    Raises InspectorError when no such event exists."""
    if (event_id is None) == (position is None):
        raise InspectorError("give an event id or a position (one of them)")
    query: dict[str, Any] = {"event_id": event_id} if event_id is not None else {"position": int(position)}
    if store.layout.lineage == "none":
        return _empty(store, _no_lineage(store), query=query)
    with store.engine.connect() as conn:
        w = _Walk(store, conn, max_nodes)
        if position is not None:
            found = w.events_where("position", [int(position)])
        else:
            if store.expr("event_id") is None:
                raise InspectorError(f"layout {store.layout.name} keeps no event ids: give a position instead")
            found = w.events_where("event_id", [event_id])
        if not found:
            what = f"id {event_id!r}" if event_id is not None else f"position {position}"
            raise InspectorError(f"no event with {what} in this store")
        focus = found[0]
        w.add([focus])
        notes: list[str] = []
        why = _unreadable(store, "causation_id", "causation id") or _ids_unusable(store)
        if why:
            notes.append(f"causes cannot be followed ({why})")
        else:
            w.ancestors([focus])
            w.descendants([focus])
    return w.graph("earliest recorded cause", notes, query=query, focus=focus.id)


def lineage(store: EventStore, *, event_id: str | None = None, position: int | None = None,
            correlation_id: str | None = None, max_nodes: int = MAX_NODES) -> LineageGraph:
    """The one entry point for a caller with a choice of question (the CLI's ``--event``,
    ``--position``, ``--correlation``)."""
    given = sum(v is not None for v in (event_id, position, correlation_id))
    if given != 1:
        raise InspectorError("give one of: an event id, a position, a correlation id")
    if correlation_id is not None:
        return correlation_lineage(store, correlation_id, max_nodes=max_nodes)
    return event_lineage(store, event_id, position=position, max_nodes=max_nodes)
