"""The desktop GUI: the only package that imports PySide6 and pyqtgraph. Its widgets are thin
adapters over ``inspector.core``; database work runs on workers (``workers.py``).

Importing this package does not import Qt; ``run`` does, when a window is about to open."""

from __future__ import annotations

from typing import Iterable


def run(
    url: str | None = None,
    layout: str | None = None,
    mapping: str | None = None,
    screenshot: str | None = None,
    plugin_paths: Iterable[str] = (),
) -> int:
    """See ``inspector.gui.app.run``."""
    from .app import run as _run

    return _run(url, layout=layout, mapping=mapping, screenshot=screenshot, plugin_paths=plugin_paths)


__all__ = ["run"]
