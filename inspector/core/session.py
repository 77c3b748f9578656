"""Opening a store for browsing: connect read-only, detect or load the layout, build the reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy.engine import Engine

from .codecs import Codec, CodecPipeline
from .connect import create_engine, normalize_url, redact
from .detect import Detection, LayoutCandidate, LayoutDefinition, choose, detect, validate_layout
from .layout import Layout, load_mapping
from .roles import MaskRule, Role, RoleStore
from .schema import reflect
from .store import EventStore


@dataclass(frozen=True)
class OpenedStore:
    store: EventStore
    candidate: LayoutCandidate
    detection: Detection | None
    url: str  # redacted

    @property
    def layout(self) -> Layout:
        return self.store.layout

    @property
    def role(self) -> Role:
        """The role the store was opened for (``roles``): what it masks, whether it may submit."""
        return getattr(self.store, "role", Role.AUDITOR)


def open_store(
    url: str,
    definitions: Sequence[LayoutDefinition],
    codecs: Iterable[Codec] | None = None,
    layout: str | None = None,
    mapping: str | Path | Layout | None = None,
    engine: Engine | None = None,
    role: Role | str = Role.AUDITOR,
    masking_rules: Iterable[MaskRule] = (),
) -> OpenedStore:
    """Connect read-only and pick the layout: a mapping file wins, then a named layout, then the
    best detected one. Raises ConnectError / LayoutError with a message for the user.

    ``role`` is the session's (``roles.Role``); a viewer's store masks what ``masking_rules``
    name. A program calling this holds the credentials, so it gets an auditor's store unless it
    asks otherwise; the CLI and the app decide a person's role (``profiles.resolve_role``)."""
    role = Role.parse(role)
    rules = tuple(masking_rules)
    engine = engine or create_engine(url, read_only=True)
    pipeline = CodecPipeline(codecs) if codecs is not None else CodecPipeline()
    name = redact(normalize_url(url)) if url else redact(str(engine.url))
    try:
        if mapping is not None:
            lay = mapping if isinstance(mapping, Layout) else load_mapping(mapping)
            lay = validate_layout(lay, reflect(engine))
            cand = LayoutCandidate(lay, 1.0, ("given as a mapping",), "mapping")
            return OpenedStore(RoleStore(engine, lay, pipeline, name, role, rules), cand, None, name)
        det = detect(engine, definitions)
        cand = choose(det, layout)
        return OpenedStore(RoleStore(engine, cand.layout, pipeline, name, role, rules), cand, det, name)
    except Exception:
        engine.dispose()
        raise
