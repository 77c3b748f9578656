"""Two read models side by side: a projection's state in one store against its state in another
(a fork against its original), as rows added, rows removed and changed cells."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .replay_fold import rows_by_key
from .replay_values import same_value


def compare_states(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """What changes from ``old`` to ``new`` (two ``History.as_of`` frames): ``added`` and
    ``removed`` rows (``{"key", "values"}``) and ``changed`` cells (``{"key", "field", "old",
    "new"}``, None for a missing value), sorted by key then field; values as JSON (times as ISO
    8601 UTC), compared as a History compares them (1 == 1.0, True != 1)."""
    a, b = rows_by_key(old), rows_by_key(new)
    changed = []
    for key in sorted(a.keys() & b.keys()):
        ra, rb = a[key], b[key]
        for field in sorted(ra.keys() | rb.keys()):
            x, y = ra.get(field), rb.get(field)
            if not same_value(x, y):
                changed.append({"key": key, "field": field, "old": x, "new": y})
    return {"added": [{"key": k, "values": b[k]} for k in sorted(b.keys() - a.keys())],
            "removed": [{"key": k, "values": a[k]} for k in sorted(a.keys() - b.keys())],
            "changed": changed}
