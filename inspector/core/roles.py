"""Roles and personal data: who may see what a store holds, and masking for those who may not.

Three roles, each including the one before:

* **viewer**: personal-data fields (named by the plugins' ``register_masking_rules``) come back
  as ``MASK``; cannot submit.
* **auditor**: sees everything; cannot submit.
* **operator**: sees everything and may submit compensating commands.

Where masking happens: a viewer's store is a ``RoleStore`` whose row decoder masks every event
right after decoding, so everything built on events (the event table, detail and raw views,
projections and their history, state, diffs, previews, forks, exports) only ever holds masked
values. It is not a value codec: codecs see a payload without its event type, and rules are
scoped by type (a product's ``name`` is not a customer's). What a viewer's store also does:

* the stored payload (``RecordedEvent.raw``) is replaced by ``RAW_WITHHELD``;
* a payload or metadata that decoded to text (plain text, XML) is withheld whole wherever a rule
  applies to its type: fields cannot be found in it, so none can be masked;
* decode errors keep only what cannot quote the payload (``withheld_error``: not a binary
  payload's first bytes in hex, nor a plugin codec's exception);
* command payloads (the store's command log) are masked with every rule's fields, whatever the
  command type (the log is read without event types; masking more is the safe side);
* logical fields a layout reads from inside a payload (``actor = metadata->user.email``) are
  masked when a rule names that path, and cannot be filtered on;
* payload text search is refused: a search for an e-mail address would tell whether it is stored.

The marker (``masking.MASK``) is one fixed text whatever the value, so it gives away neither type
nor length. With no rules at all (every masking plugin disabled) a viewer sees keys but no values.

Out of reach of the rules: stream names, actors, event types and ids read from plain columns (a
store that names streams by e-mail address shows them), and anything a viewer could read with the
database credentials directly. A role protects against showing what should not be shown; the
database's own grants protect the data."""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterable, Sequence

from sqlalchemy.engine import Engine

from .codecs import CodecPipeline, Decoded
from .errors import InspectorError
from .layout import Layout
from .masking import MASK, RAW_WITHHELD, Masker, MaskRule, holds_mask, mask_part, path_masked, withheld_error
from .model import EventFilter, RecordedEvent
from .store import EventStore

__all__ = ["DEFAULT_ROLE", "MASK", "RAW_WITHHELD", "MaskRule", "Role", "RoleError", "RoleStore", "holds_mask",
           "require", "role_of"]


class RoleError(InspectorError):
    """The session's role does not allow this (or a role asked for exceeds a profile's)."""


class Role(str, Enum):
    VIEWER = "viewer"
    AUDITOR = "auditor"
    OPERATOR = "operator"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def sees_personal_data(self) -> bool:
        return self is not Role.VIEWER

    @property
    def can_submit(self) -> bool:
        return self is Role.OPERATOR

    @property
    def summary(self) -> str:
        """One line for badges and messages."""
        return {Role.VIEWER: "personal data masked; cannot submit",
                Role.AUDITOR: "sees personal data; cannot submit",
                Role.OPERATOR: "sees personal data; can submit commands"}[self]

    def __str__(self) -> str:  # "viewer", not "Role.VIEWER", in messages and f-strings
        return self.value

    @classmethod
    def parse(cls, value: "Role | str") -> "Role":
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise RoleError(f"no role {value!r}; roles: {', '.join(r.value for r in cls)}") from None


_RANKS = {Role.VIEWER: 0, Role.AUDITOR: 1, Role.OPERATOR: 2}

#: The role of a session nobody chose a role for (an ad-hoc URL, no profile, no ``--role``).
#: Least privilege: people open stores to investigate incidents, and what they see ends up in
#: screen shares, tickets, CI logs and agents' contexts. Seeing personal data takes one visible,
#: deliberate word (``--role auditor``, or the role chooser of the connect dialog); forgetting it
#: costs a masked field, not a disclosure. Data protection by default (GDPR art. 25(2)) asks the
#: same. Operator is never a default: writing is always asked for.
DEFAULT_ROLE = Role.VIEWER


# -- the viewer's store --------------------------------------------------------------------------------

#: RecordedEvent fields that a layout may read from inside a payload and that are text.
_PATH_FIELDS = ("stream", "event_id", "causation_id", "correlation_id", "actor")
#: The filters on those fields (EventFilter attribute -> logical field).
_FILTERS = {"stream": "stream", "category": "stream", "actor": "actor", "correlation_id": "correlation_id"}


class _MaskingRows:
    """A ``RowDecoder`` whose events come out masked (everything that reads events, including
    replay's and the history's direct page reads, goes through ``store.rows``)."""

    def __init__(self, rows: Any, mask: Any):
        self._rows = rows
        self._mask = mask

    def to_event(self, row: Sequence[Any]) -> RecordedEvent:
        return self._mask(self._rows.to_event(row))

    def events(self, rows: Sequence[Any]) -> tuple[RecordedEvent, ...]:
        return tuple(map(self._mask, self._rows.events(rows)))

    def __getattr__(self, name: str) -> Any:  # plan, layout…: the decoder's own
        return getattr(self._rows, name)


class _MaskingPipeline(CodecPipeline):
    """The store's codecs for payloads read outside the row decoder (command payloads, payload
    times in lineage): decoded, then masked without a type."""

    def __init__(self, inner: CodecPipeline, masker: Masker):
        super().__init__(inner.codecs)
        self.masker = masker

    def decode(self, raw: Any) -> Decoded:
        d = super().decode(raw)
        return Decoded(self.masker.untyped(d.value), d.encoding, withheld_error(d.error, d.encoding) if d.error else None)

    def for_layout(self, name: str) -> "CodecPipeline":
        return _MaskingPipeline(super().for_layout(name), self.masker)

    def json_reader(self):
        return None  # every read goes through decode, and so through the masker


class RoleStore(EventStore):
    """An ``EventStore`` opened for a role. For a viewer it masks (see the module docstring);
    for an auditor or an operator it reads like any ``EventStore`` and only carries the role."""

    def __init__(self, engine: Engine, layout: Layout, codecs: CodecPipeline | None = None, name: str = "",
                 role: Role | str = DEFAULT_ROLE, rules: Iterable[MaskRule] = ()):
        super().__init__(engine, layout, codecs, name)
        self.role = Role.parse(role)
        self.masker: Masker | None = None
        self._path_fields: dict[str, tuple[str, tuple[str, ...]]] = {}  # logical -> (data|metadata|other, path)
        if self.role.sees_personal_data:
            return
        self.masker = Masker(rules, layout.name)
        payload, metadata = layout.ref("payload"), layout.ref("metadata")
        sources = {"data": payload.column.lower() if payload and payload.column and not payload.path else None,
                   "metadata": metadata.column.lower() if metadata and metadata.column and not metadata.path else None}
        for logical in _PATH_FIELDS:
            ref = layout.ref(logical)
            if ref is None or not ref.path or not ref.column:
                continue
            where = next((k for k, col in sources.items() if col == ref.column.lower()), None)
            # a path into some other JSON column: no rule can name it, so it is masked to be safe
            self._path_fields[logical] = (where or "other", tuple(s.lower() for s in ref.path.split(".")))
        self._masked_fields: dict[tuple[str | None, str], bool] = {}
        self.rows = _MaskingRows(self.rows, self.mask_event)
        self.codecs = _MaskingPipeline(self.codecs, self.masker)

    # -- masking -------------------------------------------------------------------------------
    def _field_masked(self, etype: str | None, logical: str) -> bool:
        """Whether ``logical`` (read from inside a payload) is masked in events of ``etype``; type
        None asks about every type at once (every typed rule applies to it)."""
        key = (etype, logical)
        hit = self._masked_fields.get(key)
        if hit is None:
            where, path = self._path_fields[logical]
            if where == "other":
                hit = True
            else:
                data, meta = self.masker.plan(etype)
                hit = path_masked(data if where == "data" else meta, path)
            if len(self._masked_fields) < 10_000:
                self._masked_fields[key] = hit
        return hit

    def mask_event(self, e: RecordedEvent) -> RecordedEvent:
        """``e`` as a viewer may see it."""
        data_pats, meta_pats = self.masker.plan(e.type)
        data = mask_part(e.data, data_pats)
        meta = mask_part(e.metadata, meta_pats)
        error = withheld_error(e.decode_error, e.encoding) if e.decode_error else None
        raw = RAW_WITHHELD if e.raw is not None else None
        e = e._replace(data=data, metadata=meta, decode_error=error, raw=raw)
        if self._path_fields:
            changes = {logical: MASK for logical in self._path_fields
                       if getattr(e, logical) is not None and self._field_masked(e.type, logical)}
            if changes:
                e = e._replace(**changes)
        return e

    # -- filters -------------------------------------------------------------------------------
    def where(self, flt: EventFilter) -> tuple[str, dict[str, Any]]:
        if self.masker is not None:
            if flt.text:
                raise RoleError("a viewer cannot search payload text: the matches would tell whether a masked "
                                "value is stored (open the store as an auditor to search)")
            for attr, logical in _FILTERS.items():
                if getattr(flt, attr) is not None and logical in self._path_fields \
                        and self._field_masked(None, logical):
                    raise RoleError(f"a viewer cannot filter by {attr}: this layout reads it from a "
                                    "personal-data field")
        return super().where(flt)


def role_of(obj: Any) -> Role:
    """The role a store (or an ``OpenedStore``) was opened for. A plain ``EventStore`` is what a
    program opened with its own credentials: an auditor's."""
    role = getattr(obj, "role", None)
    if role is None and hasattr(obj, "store"):
        role = getattr(obj.store, "role", None)
    return Role.parse(role) if role is not None else Role.AUDITOR


def require(obj: Any, what: str, *, submit: bool = False) -> Role:
    """Raise ``RoleError`` unless the session of ``obj`` may do ``what`` (``submit``: write)."""
    role = role_of(obj)
    if submit and not role.can_submit:
        raise RoleError(f"{what} needs the operator role; this session is {role} ({role.summary})")
    return role
