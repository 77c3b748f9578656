"""Plugin discovery and isolation: entry points, files, broken plugins, and the contract's docs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from inspector.core.session import open_store
from inspector.plugins import hookspecs
from inspector.plugins.manager import PluginManager

ROOT = Path(__file__).resolve().parents[2]

CUSTOM_LAYOUT_PLUGIN = '''
from dataclasses import dataclass
from inspector.core.detect import LayoutCandidate
from inspector.core.layout import Layout
from inspector.plugins.hookspecs import hookimpl

@dataclass(frozen=True)
class LedgerLayout:
    name: str = "ledger"
    title: str = "ACME ledger"

    def match(self, schema, engine):
        return [LayoutCandidate(Layout.of(self.name, self.title, t.qualified,
                    {"position": "no", "stream": "acct", "type": "kind", "payload": "body"}, time_kind="none"),
                    0.9, ("table ledger has no, acct, kind, body",))
                for t in schema.find("ledger")]

@hookimpl
def register_layouts():
    return [LedgerLayout()]
'''


def _ledger(tmp_path: Path) -> str:
    import sqlite3

    db = tmp_path / "ledger.sqlite"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE ledger (no INTEGER PRIMARY KEY, acct TEXT, kind TEXT, body TEXT)")
    c.executemany("INSERT INTO ledger (acct, kind, body) VALUES (?, ?, ?)",
                  [(f"acct-{i % 3}", "Booked", f'{{"amount": {i}}}') for i in range(10)])
    c.commit()
    c.close()
    return str(db)


def test_builtins_are_registered_through_entry_points():
    pm = PluginManager()
    by_name = {p.name: p for p in pm.status()}
    assert by_name["builtin_layouts"].source == "entry point"
    assert by_name["builtin_layouts"].hooks == ["register_layouts"]
    assert by_name["eventsourcing"].ok  # the first-party plugin package under plugins/
    names = {d.name for d in pm.layout_definitions()}
    assert {"inspector", "eventsourcing", "marten", "message-db", "rails-event-store", "axon"} <= names


def test_plugin_file_adds_a_layout(tmp_path):
    plugin = tmp_path / "ledger_plugin.py"
    plugin.write_text(CUSTOM_LAYOUT_PLUGIN)
    pm = PluginManager(paths=[plugin])
    opened = open_store(_ledger(tmp_path), pm.layout_definitions(), pm.codecs())
    assert opened.layout.name == "ledger"
    events = list(opened.store.iter_events())
    assert [e.data["amount"] for e in events] == list(range(10))
    opened.store.close()


def test_plugin_that_fails_to_import_is_disabled_and_reported(tmp_path):
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("raise RuntimeError('boom at import')\n")
    pm = PluginManager(paths=[bad])
    info = {p.name: p for p in pm.status()}["bad_plugin"]
    assert not info.ok and "boom at import" in info.error
    assert pm.layout_definitions()  # the others still work


def test_plugin_that_raises_in_a_hook_is_disabled(tmp_path):
    bad = tmp_path / "raising.py"
    bad.write_text(textwrap.dedent("""
        from inspector.plugins.hookspecs import hookimpl

        @hookimpl
        def register_layouts():
            raise ValueError("broken hook")
    """))
    pm = PluginManager(paths=[bad])
    defs = pm.layout_definitions()
    assert {d.name for d in defs} >= {"inspector", "marten"}
    info = {p.name: p for p in pm.status()}["raising"]
    assert not info.ok and "broken hook" in info.error and "register_layouts" in info.error
    assert pm.layout_definitions()  # calling again does not raise either


def test_missing_plugin_path_is_reported(tmp_path):
    pm = PluginManager(paths=[tmp_path / "nope.py"])
    assert any(not p.ok and "no plugin at" in p.error for p in pm.status())


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "inspector_spec")]


def test_every_hook_is_documented_and_tested():
    """Like datasette: a hook without a test or without a place in the README's plugin guide fails."""
    hooks = _hook_names()
    assert hooks
    readme = (ROOT / "README.md").read_text()
    guide = readme.split("## Writing a plugin", 1)[-1] if "## Writing a plugin" in readme else ""
    tests_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name)
    tests_text += CUSTOM_LAYOUT_PLUGIN
    for h in hooks:
        assert re.search(rf"\b{h}\b", guide), f"hook {h} is missing from the README's plugin guide"
        assert re.search(rf"\b{h}\b", tests_text), f"hook {h} has no test"


def test_plugin_codec_decodes_payloads(tmp_path):
    """register_codecs: a plugin teaches the reader a payload format (here base64-wrapped JSON)."""
    plugin = tmp_path / "b64.py"
    plugin.write_text(textwrap.dedent('''
        import base64, json
        from inspector.core.codecs import Codec
        from inspector.plugins.hookspecs import hookimpl

        def sniff(raw):
            return isinstance(raw, (str, bytes)) and (raw[:4] in ("b64:", b"b64:"))

        def decode(raw):
            raw = raw.encode() if isinstance(raw, str) else raw
            return base64.b64decode(raw[4:])

        @hookimpl
        def register_codecs():
            return [Codec("b64", sniff=sniff, decode=decode, unwrap=True, priority=5)]
    '''))
    import base64
    import sqlite3

    db = tmp_path / "ledger.sqlite"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE ledger (no INTEGER PRIMARY KEY, acct TEXT, kind TEXT, body TEXT)")
    c.execute("INSERT INTO ledger (acct, kind, body) VALUES ('a-1', 'Booked', ?)",
              ("b64:" + base64.b64encode(b'{"amount": 5}').decode(),))
    c.commit()
    layout_plugin = tmp_path / "ledger_plugin.py"
    layout_plugin.write_text(CUSTOM_LAYOUT_PLUGIN)
    pm = PluginManager(paths=[plugin, layout_plugin])
    opened = open_store(str(db), pm.layout_definitions(), pm.codecs())
    (event,) = opened.store.iter_events()
    assert event.data == {"amount": 5} and event.encoding == "b64+json"
    opened.store.close()
    # without the plugin the payload is shown as text, not decoded
    pm2 = PluginManager(paths=[layout_plugin])
    opened = open_store(str(db), pm2.layout_definitions(), pm2.codecs())
    (event,) = opened.store.iter_events()
    assert event.data.startswith("b64:")
    opened.store.close()


def test_layout_scoped_codecs_leave_other_stores_alone(tmp_path):
    """The eventsourcing plugin's transcoder is scoped to eventsourcing stores: the same marker shape
    in another store's payload is user data and is shown as stored."""
    import datetime as dt

    import sqlalchemy as sa

    from inspector.core import ownstore

    url = f"sqlite:///{tmp_path / 'own.sqlite'}"
    eng = sa.create_engine(url)
    marker = {"_type_": "uuid_hex", "_data_": "0" * 32}
    with eng.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.append_events(conn, [ownstore.NewEvent("e-1", "s-1", 1, "T", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                                                        {"id": marker})])
    eng.dispose()
    pm = PluginManager()
    opened = open_store(url, pm.layout_definitions(), pm.codecs())
    (event,) = opened.store.iter_events()
    assert event.data == {"id": marker}
    opened.store.close()
    assert pm.pipeline().decode('{"id": ' + __import__("json").dumps(marker) + "}").value == {"id": "00000000-0000-0000-0000-000000000000"}
