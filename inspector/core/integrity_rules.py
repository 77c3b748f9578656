"""What is normal for each layout, for the integrity checks: which gaps in global positions a store
makes in normal use (severity info, with the reason), what a per-stream version gap means, whether
a cause may name something outside the store, and which rows are gap fillers rather than events.
Facts from shared/docs/store-layouts.md; kept apart from ``integrity`` so the SQL and the
knowledge about stores can be read (and corrected) separately."""

from __future__ import annotations

from dataclasses import dataclass

from .store import EventStore

Verdict = tuple[str, str]  # (severity, explanation)


@dataclass(frozen=True)
class Rule:
    gaps: Verdict
    versions: Verdict
    causes: Verdict
    filler_type: str | None = None  # an event type that fills gaps and is no domain event (Marten)


_SEQUENCE = {
    "postgresql": ("PostgreSQL sequences skip numbers after rolled-back transactions (a value once drawn is never "
                   "given back), so gaps are normal for this layout."),
    "mysql": ("MariaDB/MySQL AUTO_INCREMENT values are not given back when a transaction rolls back, and bulk "
              "inserts may reserve more than they use, so gaps are normal for this layout."),
}
_SQLITE_GAP = ("On SQLite a rolled-back insert gives its number back, so nothing skips positions in normal use: "
               "a gap means events were deleted, or the application numbers events itself.")
_LAYOUT_GAPS = {
    "marten": ("Marten draws seq_id from a PostgreSQL sequence: a failed or rolled-back append leaves a gap. Its "
               "async daemon fills gaps with tombstone events (type 'tombstone'), which may be deleted again below "
               "the high-water mark. Gaps are normal for this layout."),
    "axon": ("Axon's globalIndex comes from a sequence or identity column (Hibernate even takes ids in blocks), so "
             "gaps are normal for this layout; Axon's GapAwareTrackingToken expects them."),
    "message-db": ("Message DB's global_position is a bigserial: a write_message that rolls back (a wrong expected "
                   "version, for one) leaves a gap. Gaps are normal for this layout."),
}

_VERSIONS = ("Versions of a stream are consecutive by construction on this layout (each append takes the next "
             "version under an expected-version check), so a gap means events of the stream are missing: "
             "deleted, or written around the store's own API.")
_RES_VERSIONS = ("Rails Event Store links an event to several streams; the inspector lists each event under its "
                 "first stream, so a stream that received links shows gaps where the linked events are. Events "
                 "appended with expected_version :any have no position and are not checked. A gap can also mean a "
                 "link row was deleted.")

_CAUSES_IN_STORE = ("The recorded cause names an event (or a command of the command log) that this store does "
                    "not hold: it was deleted, lives in another store, or the cause was recorded wrongly. Lineage "
                    "stops at these events.")
_CAUSES_POSITIONS = ("The causing message's global position (causationMessageGlobalPosition) is not in this "
                     "message store: it was deleted, or the cause lives in another message store.")
_CAUSES_OUTSIDE = {
    "marten": ("Marten's causation_id usually holds the id of the message that caused the append (a command or "
               "an incoming message, for example Wolverine's envelope id), which is not stored in mt_events: "
               "causes that name nothing here are normal for this layout."),
    "axon": ("Axon records the id of the causing message, most often a command, and commands are not stored in the "
             "event table: causes that name nothing here are normal for this layout."),
    "rails-event-store": ("Rails Event Store's causation_id often names a command or a request, which the event "
                          "store does not keep: causes that name nothing here are normal for this layout."),
}


def for_store(store: EventStore) -> Rule:
    lay = store.layout
    backend = store.dialect.name
    if lay.name in _LAYOUT_GAPS:
        gaps: Verdict = ("info", _LAYOUT_GAPS[lay.name])
    elif backend in _SEQUENCE:
        gaps = ("info", _SEQUENCE[backend])
    elif lay.name == "eventsourcing":
        gaps = ("warning", "The eventsourcing library never deletes events and SQLite gives a rolled-back rowid "
                           "back, so a gap means events were deleted.")
    else:
        gaps = ("warning", _SQLITE_GAP)
    versions: Verdict = ("warning", _RES_VERSIONS) if lay.name == "rails-event-store" else ("error", _VERSIONS)
    if lay.name in _CAUSES_OUTSIDE:
        causes: Verdict = ("info", _CAUSES_OUTSIDE[lay.name])
    elif lay.lineage == "positions":
        causes = ("warning", _CAUSES_POSITIONS)
    else:
        causes = ("warning", _CAUSES_IN_STORE)
        if lay.commands is None:
            causes = ("warning", _CAUSES_IN_STORE + " (This store keeps no command log, so a cause that names a "
                                                    "command is reported too.)")
    return Rule(gaps, versions, causes, "tombstone" if lay.name == "marten" else None)
