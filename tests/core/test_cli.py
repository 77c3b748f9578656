"""The command line as scripts use it: JSON rows, filters, mapping files, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import MYSQL_URL, PG_URL, _check, unavailable

JSON_KEYS = {"position", "stream", "version", "type", "recorded_at", "event_id", "causation_id",
             "correlation_id", "actor", "data", "metadata", "decode_error"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "shop.sqlite"
    r = run("demo", "--no-gui", "--path", str(path), "--events", "4000", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == str(path)
    return path


def jsonl(r: subprocess.CompletedProcess) -> list[dict]:
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_events_jsonl_rows_carry_the_documented_fields(demo):
    rows = jsonl(run("events", str(demo), "--limit", "50", "--format", "jsonl"))
    assert len(rows) == 50
    assert all(set(r) == JSON_KEYS for r in rows)
    assert [r["position"] for r in rows] == list(range(1, 51))
    assert all(r["recorded_at"].endswith("+00:00") for r in rows)  # ISO 8601 with offset
    assert all(isinstance(r["data"], dict) and r["decode_error"] is None for r in rows)


def test_filters_are_applied(demo):
    rows = jsonl(run("events", str(demo), "--actor", "agent:pricing-bot", "--type", "PriceChanged",
                     "--limit", "0", "--format", "jsonl"))
    assert rows and all(r["actor"] == "agent:pricing-bot" and r["type"] == "PriceChanged" for r in rows)
    corr = rows[-1]["correlation_id"]
    same = jsonl(run("events", str(demo), "--correlation", corr, "--limit", "0", "--format", "jsonl"))
    assert same and all(r["correlation_id"] == corr for r in same)
    stream = rows[0]["stream"]
    one = jsonl(run("events", str(demo), "--stream", stream, "--limit", "0", "--format", "jsonl"))
    assert [r["version"] for r in one] == list(range(1, len(one) + 1))
    cat = jsonl(run("events", str(demo), "--category", "order", "--limit", "20", "--format", "jsonl"))
    assert cat and all(r["stream"].startswith("order-") for r in cat)
    window = jsonl(run("events", str(demo), "--after", "100", "--before", "111", "--format", "jsonl"))
    assert [r["position"] for r in window] == list(range(101, 111))
    newest = jsonl(run("events", str(demo), "--limit", "3", "--desc", "--format", "jsonl"))
    assert newest[0]["position"] > newest[1]["position"] > newest[2]["position"]
    t0, t1 = rows[0]["recorded_at"], rows[-1]["recorded_at"]
    timed = jsonl(run("events", str(demo), "--since", t0, "--until", t1, "--limit", "0", "--format", "jsonl"))
    assert timed and all(t0 <= r["recorded_at"] < t1 for r in timed)
    text = jsonl(run("events", str(demo), "--text", rows[0]["data"]["sku"], "--limit", "5", "--format", "jsonl",
                     "--role", "auditor"))
    assert text and all(rows[0]["data"]["sku"] in json.dumps(r["data"]) for r in text)


def test_csv_and_table_output(demo):
    r = run("events", str(demo), "--limit", "10", "--format", "csv")
    assert r.returncode == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(table) == 10 and json.loads(table[0]["data"])
    r = run("events", str(demo), "--limit", "10")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 11 and "position" in r.stdout.splitlines()[0]


def test_detect_reports_the_layout_with_reasons(demo):
    r = run("detect", str(demo))
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["candidates"][0]
    assert best["layout"] == "inspector" and best["reasons"]


def test_unknown_layout_detect_toml_then_mapping(tmp_path):
    db = tmp_path / "ledger.sqlite"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE journal (entry_no INTEGER PRIMARY KEY, account TEXT NOT NULL, seq INTEGER NOT NULL,"
              " kind TEXT NOT NULL, booked_at TEXT NOT NULL, body TEXT NOT NULL, UNIQUE(account, seq))")
    for i in range(60):
        c.execute("INSERT INTO journal (account, seq, kind, booked_at, body) VALUES (?,?,?,?,?)",
                  (f"acct-{i % 4}", i // 4 + 1, ["Opened", "Credited", "Debited"][i % 3],
                   f"2026-10-01T10:{i:02d}:00Z", json.dumps({"amount": i})))
    c.commit()
    r = run("events", str(db))
    assert r.returncode != 0 and "--mapping" in r.stderr and "Traceback" not in r.stderr
    r = run("detect", str(db), "--format", "toml")
    assert r.returncode == 0, r.stderr
    mapping = tmp_path / "journal.toml"
    mapping.write_text(r.stdout)
    rows = jsonl(run("events", str(db), "--mapping", str(mapping), "--limit", "0", "--format", "jsonl"))
    assert [r["data"]["amount"] for r in rows] == list(range(60))
    assert rows[5]["stream"] == "acct-1" and rows[5]["type"] == "Debited"


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0].lower(), lines[0]


def test_unreachable_server_is_one_line():
    one_line_error(run("events", "postgresql://postgres@127.0.0.1:1/test"), "cannot reach")


def test_wrong_password_is_one_line():
    if _check(MYSQL_URL):
        unavailable("MariaDB not reachable")
    url = make_url(MYSQL_URL).set(password="definitely-wrong").render_as_string(hide_password=False)
    r = run("events", url)
    one_line_error(r, "wrong user name or password")
    assert "definitely-wrong" not in r.stderr


def test_missing_database_is_one_line():
    if _check(PG_URL):
        unavailable("PostgreSQL not reachable")
    url = make_url(PG_URL).set(database="no_such_db_here").render_as_string(hide_password=False)
    one_line_error(run("events", url), "does not exist")


def test_database_without_event_table_is_one_line(tmp_path):
    db = tmp_path / "users.sqlite"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    c.execute("INSERT INTO users (name, email) VALUES ('ann', 'ann@example.org')")
    c.commit()
    one_line_error(run("events", str(db)), "no")
    one_line_error(run("events", str(tmp_path / "missing.sqlite")), "no such sqlite file")


def test_bad_mapping_file_is_one_line(demo, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[layout\ntable = 'x'")
    one_line_error(run("events", str(demo), "--mapping", str(bad)), "not valid toml")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[layout]\ntable = "inspector_events"\n[fields]\nposition = "no_such_column"\n')
    one_line_error(run("events", str(demo), "--mapping", str(wrong)), "no_such_column")


def test_unsupported_filter_is_one_line(demo, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('[layout]\ntable = "inspector_events"\ntime_kind = "none"\n[fields]\nposition = "position"\n'
                       'stream = "stream"\ntype = "type"\npayload = "data"\n')
    one_line_error(run("events", str(demo), "--mapping", str(mapping), "--since", "2026-10-01"), "time")
    one_line_error(run("events", str(demo), "--mapping", str(mapping), "--actor", "x"), "actor")


def test_open_without_display_renders_a_picture_instead(demo, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "inspector.cli", "open", str(demo)], capture_output=True, text=True,
                       env=env, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no display" in r.stderr and "Traceback" not in r.stderr
    png = tmp_path / "inspector-window.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = subprocess.run([sys.executable, "-m", "inspector.cli"], capture_output=True, text=True, env=env, timeout=60)
    one_line_error(r, "no display")


def test_plugins_lists_builtins():
    r = run("plugins", "--format", "json")
    assert r.returncode == 0, r.stderr
    names = {p["name"] for p in json.loads(r.stdout)}
    assert {"builtin_layouts", "builtin_codecs", "eventsourcing"} <= names


def test_nan_in_a_payload_still_gives_strict_json(tmp_path):
    db = tmp_path / "nan.sqlite"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE journal (entry_no INTEGER PRIMARY KEY, account TEXT, kind TEXT, body TEXT)")
    c.execute("INSERT INTO journal (account, kind, body) VALUES ('a-1', 'Measured', '{\"value\": NaN, \"ok\": 1}')")
    c.commit()
    mapping = tmp_path / "m.toml"
    mapping.write_text('[layout]\ntable = "journal"\ntime_kind = "none"\n[fields]\nposition = "entry_no"\n'
                       'stream = "account"\ntype = "kind"\npayload = "body"\n')
    r = run("events", str(db), "--mapping", str(mapping), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert row["data"] == {"value": "nan", "ok": 1}
