"""Long jobs in the core are generators that yield progress tuples and return their result, so a
worker thread can cancel them between steps; ``drive`` runs one to its end for a plain call."""

from __future__ import annotations

from typing import Any, Callable, Generator


def drive(gen: Generator[Any, None, Any], progress: Callable[..., None] | None = None, spread: bool = True) -> Any:
    """Run ``gen`` to its end, handing each step it yields to ``progress(*step)`` (``spread``) or
    ``progress(step)``; its return value."""
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            if spread:
                progress(*step)
            else:
                progress(step)
