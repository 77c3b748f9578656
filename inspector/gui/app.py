"""Starting the desktop app: the QApplication and its look, opening a store (from a URL or the
connection dialog), the main window, and a headless screenshot mode for docs and CI."""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from PySide6.QtCore import QEventLoop, QTimer, qInstallMessageHandler
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from inspector.core.errors import InspectorError

from .workers import TaskRunner, describe

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICON = RESOURCES / "icons" / "inspector.svg"
STYLE = RESOURCES / "style.qss"
SCREENSHOT_TIMEOUT_S = 30.0


#: Qt warnings that the offscreen platform prints for every window and that mean nothing here.
_QUIET = ("propagateSizeHints",)


def _quiet_offscreen(_mode, _context, message: str) -> None:
    if not any(q in message for q in _QUIET):
        print(message, file=sys.stderr)


def make_app() -> QApplication:
    """The process's QApplication (created if needed) with the inspector's name, icon and style.
    Missing resources are skipped quietly: the app works with Qt's defaults."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "inspector"])
    app.setApplicationName("inspector")
    app.setOrganizationName("inspector")
    app.setStyle("Fusion")
    if ICON.is_file():
        app.setWindowIcon(QIcon(str(ICON)))
    font = QFont(app.font())
    if 0 < font.pointSizeF() < 9:
        font.setPointSizeF(9)
        app.setFont(font)
    try:
        app.setStyleSheet(STYLE.read_text(encoding="utf-8"))
    except OSError:
        pass
    gc_policy()
    return app


#: Young-generation thresholds while the app runs (Python's default is 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def gc_policy() -> None:
    """The app's garbage-collector policy, set once at start-up: everything alive now (modules,
    Qt wrappers) is frozen out of the cyclic collector, and collections are made rarer. A full
    collection walks every tracked object: with PySide6 and pyqtgraph loaded that is 50-80 ms, and
    the allocations of slider reads would trigger one every few frames, on whichever thread,
    blocking the GUI thread. Frozen objects are still freed by reference counting."""
    global _GC_SET
    if _GC_SET:
        return
    _GC_SET = True
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


_GC_SET = False


def wait_for(predicate: Callable[[], bool], timeout_s: float, settle_ms: int = 250) -> bool:
    """Run the event loop until ``predicate`` has held for ``settle_ms`` (work that finishes often
    starts more: the first page triggers a detail refresh, the timeline redraws), or time runs out."""
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s
    since: list[float | None] = [None]
    result = [False]

    def poll() -> None:
        now = time.monotonic()
        if predicate():
            since[0] = since[0] or now
            if (now - since[0]) * 1000 >= settle_ms:
                result[0] = True
                loop.quit()
                return
        else:
            since[0] = None
        if now >= deadline:
            loop.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(25)
    poll()
    if not result[0] and time.monotonic() < deadline:
        loop.exec()
    timer.stop()
    return result[0]


def call_off_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one blocking core call on a worker while the event loop keeps turning; return its
    result or raise its exception. For start-up work done before any window exists."""
    runner = TaskRunner()
    box: dict[str, Any] = {}
    runner.submit(fn, *args, label="opening store", on_finished=lambda r: box.setdefault("ok", r),
                  on_error=lambda e: box.setdefault("err", e), **kwargs)
    wait_for(lambda: bool(box), timeout_s=3600, settle_ms=0)
    runner.shutdown(0)
    if "err" in box:
        raise box["err"]
    return box.get("ok")


def save_screenshot(window: QWidget, path: str | os.PathLike, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> tuple[Path, bool]:
    """Show ``window``, wait until it reports everything loaded (``is_loaded()``), grab it to a
    PNG. Returns (path, loaded in time)."""
    window.show()
    probe = getattr(window, "is_loaded", lambda: True)
    ok = wait_for(probe, timeout_s)
    QApplication.processEvents()
    out = Path(path).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        raise OSError(f"could not write {out}")
    return out, ok


def _open(url: str, layout: str | None, mapping: str | None, pm, role: str | None = None) -> Any:
    """Open ``url`` for ``role`` (None: the profiles' role for it, else the default, viewer)."""
    from inspector.core.profiles import resolve_role
    from inspector.core.session import open_store

    return call_off_thread(open_store, url, pm.layout_definitions(), pm.codecs(), layout=layout, mapping=mapping,
                           role=resolve_role(role, url), masking_rules=pm.masking_rules())


def _after_history(window: Any, action: Callable[[], None]) -> None:
    """Run ``action`` once the state panel has its history (selecting an event before that would
    move a slider that has no stops yet)."""
    panel = window.state_panel
    timer = QTimer(window)

    def check() -> None:
        if panel.history is not None or panel.projection() is None:
            timer.stop()
            action()

    timer.timeout.connect(check)
    timer.start(50)


def _ask_connection(pm, parent: QWidget | None = None) -> Any:
    """The connection dialog's store, or None when cancelled."""
    from .connect_dialog import ConnectDialog

    dialog = ConnectDialog(pm, parent)
    return dialog.result_store() if dialog.exec() else None


def run(
    url: str | None = None,
    layout: str | None = None,
    mapping: str | None = None,
    screenshot: str | None = None,
    plugin_paths: Iterable[str] = (),
    projection: str | None = None,
    at: int | None = None,
    role: str | None = None,
) -> int:
    """Open the inspector on ``url`` (or ask with the connection dialog) and run until the window
    closes; ``projection`` opens that read model in the state panel, ``at`` selects the event at that
    position (and so moves the slider); ``role`` is the session's (``core.roles``; None: the role of
    the URL's profile, else viewer). With ``screenshot``, render the loaded window to that PNG,
    print its path, and return 0 without entering the event loop; errors then go to stderr as one
    line and return 2."""
    if screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = make_app()
    if not screenshot:
        return _run(app, url, layout, mapping, None, plugin_paths, projection, at, role)
    previous = qInstallMessageHandler(_quiet_offscreen)
    try:
        return _run(app, url, layout, mapping, screenshot, plugin_paths, projection, at, role)
    finally:
        qInstallMessageHandler(previous)


def _run(app: QApplication, url, layout, mapping, screenshot, plugin_paths, projection=None, at=None, role=None) -> int:
    from inspector.plugins.manager import PluginManager

    from .main_window import MainWindow

    pm = PluginManager(paths=plugin_paths)
    if url is None:
        if screenshot:
            print("inspector: a screenshot needs a database URL", file=sys.stderr)
            return 2
        opened = _ask_connection(pm)
        if opened is None:
            return 0
    else:
        try:
            opened = _open(url, layout, mapping, pm, role)
        except Exception as e:  # noqa: BLE001 - every failure becomes one line for the user
            msg = str(e) if isinstance(e, InspectorError) else describe(e)
            if screenshot:
                print(f"inspector: {msg}", file=sys.stderr)
                return 2
            QMessageBox.critical(None, "Cannot open the store", msg)
            opened = _ask_connection(pm)
            if opened is None:
                return 2
    window = MainWindow(opened, pm)
    if projection:
        try:
            window.state_panel.choose(projection)
        except KeyError:
            names = ", ".join(p.name for p in pm.projections())
            print(f"inspector: no projection {projection!r}; projections: {names}", file=sys.stderr)
            return 2
    if at is not None:
        _after_history(window, lambda: window.select_position(at))
    if screenshot:
        if projection:
            window.resize(max(window.width(), 1600), max(window.height(), 1000))  # room for the docks
        path, loaded = save_screenshot(window, screenshot)
        if not loaded:
            print(f"inspector: still loading after {SCREENSHOT_TIMEOUT_S:.0f} s; the screenshot shows what had arrived",
                  file=sys.stderr)
        print(path)
        window.close()
        return 0
    window.show()
    return app.exec()
