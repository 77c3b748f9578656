"""First-party plugin for stores written by the Python ``eventsourcing`` library.

The library's ``JSONTranscoder`` writes values JSON cannot hold as ``{"_type_": name, "_data_":
value}``; this plugin shows them as readable values (ISO datetimes, UUID strings, decimal strings)
instead of markers. The layout itself is built in (``inspector.plugins.builtin.layouts``).

It proposes no compensations: it explains why instead (``propose_compensations``)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any, Callable

from inspector.core.codecs import Codec
from inspector.core.commands import CompensationNote
from inspector.plugins.hookspecs import hookimpl


def _uuid(data: str) -> str:
    return str(uuid.UUID(data))  # hex without dashes, as UUIDAsHex writes it -> canonical form


def _decimal(data: str) -> str:
    return str(decimal.Decimal(data))  # checked, and kept as text so no precision is lost


def _datetime(data: str) -> str:
    return dt.datetime.fromisoformat(data).isoformat()  # checked; keeps the offset it was written with


def _date(data: str) -> str:
    return dt.date.fromisoformat(data).isoformat()


def _list(data: list) -> list:
    if not isinstance(data, list):
        raise TypeError("tuple_as_list data is not a list")
    return data


#: Transcoding name -> reader. The first three are the ones eventsourcing 9.x registers itself
#: (``Application.register_transcodings``: ``UUIDAsHex``, ``DecimalAsStr``, ``DatetimeAsISO`` in
#: ``eventsourcing/persistence.py``); the others are custom names applications often register.
READERS: dict[str, Callable[[Any], Any]] = {
    "uuid_hex": _uuid,
    "decimal_str": _decimal,
    "datetime_iso": _datetime,
    "date_iso": _date,
    "tuple_as_list": _list,
}


def untranscode(value: Any) -> Any:
    """Replace every ``_type_``/``_data_`` marker in a decoded JSON value by its readable value.
    A marker whose name is unknown or whose data does not parse keeps its shape (data readable
    inside it), so nothing is hidden or invented."""
    if isinstance(value, dict):
        # the same test as JSONTranscoder._decode_obj: exactly these two keys
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            name, data = value["_type_"], untranscode(value["_data_"])
            reader = READERS.get(name) if isinstance(name, str) else None
            if reader is not None:
                try:
                    return reader(data)
                except Exception:  # data that does not parse: show the marker with its data
                    pass
            return {"_type_": name, "_data_": data}
        return {k: untranscode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untranscode(v) for v in value]
    return value


TRANSCODED = Codec("eventsourcing-transcoded", kind="value", decode=untranscode, priority=50, marker='"_type_"',
                   layouts=("eventsourcing",))


@hookimpl
def register_codecs():
    """Readable values for the eventsourcing library's transcoded JSON."""
    return [TRANSCODED]


#: Why no generic compensation exists for the library's stores (shown to the operator).
NO_GENERIC_COMPENSATION = (
    "no compensation can be proposed generically for a store written by the eventsourcing library: its events are "
    "the application's domain event classes, named by topics (module:Class) only the application defines, and "
    "whether an event may follow another is decided by the application's aggregates (their invariants and "
    "versions), which the inspector cannot run. A plugin for that application must register commands "
    "(register_commands) and propose them (propose_compensations); without one there are no commands to "
    "compose steps from.")


@hookimpl
def propose_compensations(plan, context):
    """A note explaining why nothing is proposed, for plans over eventsourcing-library stores; nothing otherwise."""
    if getattr(getattr(plan, "store", None), "layout", None) != "eventsourcing":
        return []
    return [CompensationNote(NO_GENERIC_COMPENSATION, "eventsourcing")]
