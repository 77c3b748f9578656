"""Long jobs in the core are generators that yield progress tuples and return their result, so a
worker thread can cancel them between steps; ``drive`` runs one to its end for a plain call."""

from __future__ import annotations

from typing import Any, Callable, Generator


def drive(gen: Generator[tuple[Any, ...], None, Any], progress: Callable[..., None] | None = None) -> Any:
    """Run ``gen`` to its end, handing each tuple it yields to ``progress(*step)``; its return value."""
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(*step)
