"""GUI test fixtures: Qt runs offscreen, and a small real store (the bundled demo shop, ~3000 events)
with a few payloads corrupted on purpose so decode errors can be seen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

#: Positions whose stored payloads the fixture breaks: corrupt JSON text, then random bytes.
CORRUPT_POSITIONS = (7, 1234)
DEMO_EVENTS = 3000


def _smoke_store(path: Path, n: int) -> None:
    """The inspector layout written by hand: used only if the demo generator is unavailable."""
    c = sqlite3.connect(path)
    c.executescript(
        "create table inspector_events(position integer primary key, event_id text, stream text, version int,"
        " type text, recorded_at text, data text, metadata text, causation_id text, correlation_id text, actor text);"
    )
    base = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    versions: dict[str, int] = {}
    for i in range(1, n + 1):
        stream = f"order-{i % 50}" if i % 3 else f"product-SKU{i % 20:03d}"
        versions[stream] = versions.get(stream, 0) + 1
        c.execute(
            "insert into inspector_events values(?,?,?,?,?,?,?,?,?,?,?)",
            (i, f"e{i}", stream, versions[stream], ("OrderPlaced", "PriceChanged", "OrderShipped")[i % 3],
             (base + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             json.dumps({"n": i, "note": "hello world" if i % 100 == 0 else "x"}), json.dumps({"m": 1}),
             None, f"c{i % 7}", f"user:{('alice', 'bob', 'carol')[i % 3]}"),
        )
    c.commit()
    c.close()


@pytest.fixture(scope="session")
def shop_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gui") / "shop.sqlite"
    try:
        from inspector.core.demo import create_demo
    except ImportError:
        _smoke_store(path, DEMO_EVENTS)
    else:
        create_demo(path, events=DEMO_EVENTS, seed=7, days=10)
    c = sqlite3.connect(path)
    c.execute("update inspector_events set data = ? where position = ?", ('{"sku": "KIT0001", "price": ', CORRUPT_POSITIONS[0]))
    c.execute("update inspector_events set data = ? where position = ?", (os.urandom(64), CORRUPT_POSITIONS[1]))
    c.commit()
    c.close()
    return path


@pytest.fixture
def opened(shop_path, plugin_manager):
    """A fresh read-only OpenedStore on the shop (closed after the test)."""
    from inspector.core.session import open_store

    o = open_store(str(shop_path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    yield o
    o.store.close()


@pytest.fixture
def corrupt_positions() -> tuple[int, ...]:
    return CORRUPT_POSITIONS


@pytest.fixture
def runner(qtbot):
    from inspector.gui.workers import TaskRunner

    r = TaskRunner()
    yield r
    r.shutdown()


WAIT_MS = 20000


def settled(w) -> bool:
    """The main window has its first page and count, and no work is queued."""
    m = w.model
    return not m.is_loading() and not m.is_counting() and w.runner.is_idle()


@pytest.fixture
def window(qtbot, opened, plugin_manager):
    """The main window on the shop store, its first page loaded."""
    from inspector.gui.main_window import MainWindow

    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and settled(w), timeout=WAIT_MS)
    yield w
    w.close()
