"""Layout detection: reflect a database, ask every known layout definition whether it fits, and rank
the candidates by confidence with the reasons. Unknown schemas get a proposed mapping instead
(see ``propose``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

from sqlalchemy.engine import Engine

from .errors import LayoutError
from .layout import Layout
from .schema import SchemaInfo, TableInfo, reflect


@dataclass(frozen=True)
class LayoutCandidate:
    layout: Layout
    confidence: float  # 0..1
    reasons: tuple[str, ...]
    source: str = "known"  # "known" (a layout definition), "proposed" (heuristic), "mapping" (a file)

    def to_json(self) -> dict:
        return {
            "layout": self.layout.name,
            "title": self.layout.title,
            "table": self.layout.table,
            "confidence": round(self.confidence, 3),
            "reasons": list(self.reasons),
            "source": self.source,
            "fields": {k: v.spec() for k, v in self.layout.fields.items()},
            "notes": list(self.layout.notes),
        }


class LayoutDefinition(Protocol):
    """What a ``register_layouts`` hook returns: a named layout family that recognises itself in a
    reflected schema (table names vary: ``<app>_events``, schemas, naming strategies)."""

    name: str
    title: str

    def match(self, schema: SchemaInfo, engine: Engine) -> list[LayoutCandidate]: ...


@dataclass(frozen=True)
class Detection:
    dialect: str
    candidates: tuple[LayoutCandidate, ...]  # best first
    proposals: tuple[LayoutCandidate, ...] = ()  # heuristic mappings when no candidate fits
    tables: tuple[str, ...] = field(default=())
    errors: tuple[str, ...] = ()  # layout definitions that failed while matching (skipped)
    unreadable: tuple[str, ...] = ()  # tables whose structure could not be read

    @property
    def best(self) -> LayoutCandidate | None:
        return self.candidates[0] if self.candidates else None

    def to_json(self) -> dict:
        return {
            "dialect": self.dialect,
            "candidates": [c.to_json() for c in self.candidates],
            "proposals": [p.to_json() for p in self.proposals],
            "tables": list(self.tables),
            "errors": list(self.errors),
            "unreadable": list(self.unreadable),
        }


def score_columns(table: TableInfo, required: Sequence[str], optional: Sequence[str] = ()) -> tuple[float, list[str]]:
    """A confidence from how many of a layout's columns a table has (required ones must all be there)."""
    missing = [c for c in required if not table.column(c)]
    if missing:
        return 0.0, [f"{table.qualified} lacks {', '.join(missing)}"]
    have_opt = [c for c in optional if table.column(c)]
    conf = 0.75 + 0.2 * (len(have_opt) / len(optional) if optional else 1.0)
    reasons = [f"table {table.qualified} has {', '.join(required)}"]
    if optional:
        reasons.append(f"{len(have_opt)}/{len(optional)} optional columns present")
    return conf, reasons


def detect(
    engine: Engine,
    definitions: Iterable[LayoutDefinition],
    schema: SchemaInfo | None = None,
    propose: bool = True,
) -> Detection:
    schema = schema or reflect(engine)
    cands: list[LayoutCandidate] = []
    errors: list[str] = []
    for d in definitions:
        try:
            found = list(d.match(schema, engine))
        except Exception as e:  # one broken (plugin) definition must not stop detection for all
            errors.append(f"layout {getattr(d, 'name', d)!s} failed to match: {type(e).__name__}: {e}")
            continue
        for c in found:
            if c.confidence > 0:
                table = schema.get(c.layout.table)
                if table is not None:
                    c = LayoutCandidate(with_table_facts(c.layout, table, schema.dialect), c.confidence,
                                        c.reasons + _order_warning(c.layout, table), c.source)
                cands.append(c)
    cands.sort(key=lambda c: -c.confidence)
    proposals: tuple[LayoutCandidate, ...] = ()
    if propose and not cands:
        from .propose import propose_layouts

        proposals = tuple(propose_layouts(engine, schema))
    return Detection(schema.dialect, tuple(cands), proposals, tuple(t.qualified for t in schema.tables), tuple(errors),
                     schema.unreadable)


def _position_unique(layout: Layout, table: TableInfo) -> bool:
    ref = layout.ref("position")
    if ref is None or ref.column is None:
        return True  # an expression (SQLite rowid): unique by construction
    col = ref.column.lower()
    return any(len(u) == 1 and u[0].lower() == col for u in table.unique)


def _tiebreak(table: TableInfo, dialect: str) -> str | None:
    """What orders rows sharing a position, so keyset paging loses none of them."""
    if dialect == "sqlite" and not table.without_rowid:
        return "e.rowid"
    if dialect == "postgresql":
        return "e.ctid"
    for u in table.unique:
        if len(u) == 1:
            q = "`" if dialect == "mysql" else '"'
            return f"e.{q}{u[0]}{q}"
    return None


def _order_warning(layout: Layout, table: TableInfo) -> tuple[str, ...]:
    """Keyset paging needs a unique global order; say so where the database does not promise one."""
    if _position_unique(layout, table):
        return ()
    ref = layout.ref("position")
    return (f"warning: {ref.column} is not declared unique; rows sharing a position are kept together "
            "when paging",)


def with_table_facts(layout: Layout, table: TableInfo, dialect: str) -> Layout:
    """Attach what the database says about the table: column types and, where the position is not
    unique, a tie-breaker for paging."""
    from dataclasses import replace

    lay = layout.with_types(table.types())
    if not _position_unique(layout, table):
        lay = replace(lay, tiebreak=_tiebreak(table, dialect), position_unique=False)
    return lay


def validate_layout(layout: Layout, schema: SchemaInfo) -> Layout:
    """Check a (user-written) layout against the database and attach its column types."""
    table = schema.get(layout.table)
    if table is None:
        names = ", ".join(t.qualified for t in schema.tables) or "none"
        raise LayoutError(f"table {layout.table!r} not found in the database (tables: {names})")
    for logical, ref in layout.fields.items():
        if ref.column and not table.column(ref.column) and not (ref.column.lower() == "rowid" and schema.dialect == "sqlite"):
            cols = ", ".join(c.name for c in table.columns)
            raise LayoutError(
                f"field {logical} names column {ref.column!r}, which {table.qualified} does not have (columns: {cols})"
            )
    # use the database's own spelling of each column (PostgreSQL folds unquoted names)
    from dataclasses import replace

    from .layout import FieldRef

    fixed = {}
    for logical, ref in layout.fields.items():
        if ref.column and table.column(ref.column):
            ref = FieldRef(table.column(ref.column).name, ref.path, ref.sql)
        fixed[logical] = ref
    return with_table_facts(replace(layout, fields=fixed), table, schema.dialect)


def choose(detection: Detection, wanted: str | None = None) -> LayoutCandidate:
    """The candidate to open: the named one, or the best; a clear error otherwise."""
    if wanted:
        # "name", or "name:table" where several tables fit one layout (e.g. one per schema)
        name, _, table = wanted.partition(":")
        for c in detection.candidates:
            if c.layout.name == name and (not table or c.layout.table.lower() == table.lower()):
                return c
        fits = ", ".join(sorted({f"{c.layout.name}:{c.layout.table}" for c in detection.candidates})) or "none"
        raise LayoutError(f"layout {wanted!r} does not fit this database (layouts that fit: {fits})")
    if len(detection.candidates) > 1 and detection.candidates[1].confidence == detection.candidates[0].confidence \
            and detection.candidates[1].layout.table != detection.candidates[0].layout.table:
        tied = [c for c in detection.candidates if c.confidence == detection.candidates[0].confidence]
        raise LayoutError("several tables fit equally well: " + ", ".join(f"{c.layout.name}:{c.layout.table}" for c in tied)
                          + "; choose one with --layout NAME:TABLE")
    if detection.best:
        return detection.best
    if detection.unreadable:
        first = detection.unreadable[0]
        more = f" (and {len(detection.unreadable) - 1} more)" if len(detection.unreadable) > 1 else ""
        raise LayoutError(f"no known event-store layout among the tables that could be read; could not read {first}{more}")
    if not detection.tables:
        raise LayoutError("the database has no tables: nothing to inspect")
    hint = "run `inspector detect URL --format toml > mapping.toml`, check it, and pass --mapping mapping.toml"
    if detection.proposals:
        p = detection.proposals[0]
        raise LayoutError(f"no known event-store layout found; table {p.layout.table} looks event-like: {hint}")
    raise LayoutError(f"no event-like table found (tables: {', '.join(detection.tables)})")
