"""A dropped database connection costs at most one clear error, never the session: the next read
reconnects (the pool pings first) and nothing is left half-done (browsing never writes)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from inspector.core.model import EventFilter
from inspector.core.session import open_store
from tests.fixtures import inspector as own_fixture


def _kill_backends(url: str) -> int:
    db = sa.engine.make_url(url).database
    admin = sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        n = c.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": db}).scalar()
    admin.dispose()
    return int(n or 0)


def test_reads_survive_a_killed_server_connection(pg_url, plugin_manager):
    own_fixture.create(pg_url)
    opened = open_store(pg_url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    store = opened.store
    first = store.read_page(EventFilter(), limit=5)
    assert _kill_backends(pg_url) >= 1  # the store's pooled connection is gone now
    again = store.read_page(EventFilter(), limit=5)
    assert [e.position for e in again.events] == [e.position for e in first.events]
    assert store.count() > 0 and store.histogram().bins
    store.close()


def test_a_connection_lost_mid_query_is_one_line_in_the_cli(pg_url, tmp_path):
    own_fixture.create(pg_url)
    # a mapping whose actor expression sleeps keeps the query running while the server drops it
    mapping = tmp_path / "slow.toml"
    mapping.write_text(
        '[layout]\ntable = "inspector_events"\n[fields]\nposition = "position"\nstream = "stream"\n'
        'type = "type"\nrecorded_at = "recorded_at"\npayload = "data"\n'
        'actor = "sql:(SELECT CAST(pg_sleep(0.2) AS text) WHERE e.position > 0)"\n'
    )
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli", "events", pg_url, "--mapping", str(mapping),
                             "--limit", "0", "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        _kill_backends(pg_url)  # again and again: a kill between two queries is healed by the pool
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "lost the connection to postgresql" in err, err
