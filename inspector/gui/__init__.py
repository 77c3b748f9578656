"""The desktop GUI: the only package that imports PySide6 and pyqtgraph. Its widgets are thin
adapters over ``inspector.core``; database work runs on workers (``workers.py``).

Importing this package does not import Qt; ``run`` does, when a window is about to open."""

from __future__ import annotations


def run(*args, **kwargs) -> int:
    """Open the inspector: ``inspector.gui.app.run`` (imported, with Qt, only now)."""
    from .app import run as _run

    return _run(*args, **kwargs)


__all__ = ["run"]
