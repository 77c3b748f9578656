"""First-party plugin for stores written by the Python ``eventsourcing`` library.

Its JSON transcoder writes non-JSON values as ``{"_type_": name, "_data_": value}``; this plugin
shows them as readable values (ISO datetimes, UUID strings, decimal strings) instead of markers.
The layout itself is built in (``inspector.plugins.builtin.layouts``)."""

from __future__ import annotations

import uuid
from typing import Any

from inspector.core.codecs import Codec
from inspector.plugins.hookspecs import hookimpl

# transcoding names written by eventsourcing's own transcodings (persistence.py)
_READERS = {
    "uuid_hex": lambda d: str(uuid.UUID(hex=d)),
    "decimal_str": str,
    "datetime_iso": str,
    "date_iso": str,
    "tuple_as_list": lambda d: list(d),
}


def untranscode(value: Any) -> Any:
    """Replace every ``_type_``/``_data_`` marker in a decoded JSON value by its readable value."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            data = untranscode(value["_data_"])
            reader = _READERS.get(value["_type_"])
            if reader is None:
                return {"_type_": value["_type_"], "_data_": data}
            try:
                return reader(data)
            except (ValueError, TypeError):
                return data
        return {k: untranscode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untranscode(v) for v in value]
    return value


TRANSCODED = Codec("eventsourcing-transcoded", kind="value", decode=untranscode, priority=50)


@hookimpl
def register_codecs():
    """Readable values for the eventsourcing library's transcoded JSON."""
    return [TRANSCODED]
