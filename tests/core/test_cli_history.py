"""The history commands as scripts and agents use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.demo import create_demo


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "shop.sqlite"
    return path, create_demo(path, events=3000, seed=5)


def test_lineage_of_the_incident_leads_to_the_pricing_bot(demo):
    path, summary = demo
    corr = summary.incident["correlation_id"]
    r = run("lineage", str(path), "--correlation", corr)
    assert r.returncode == 0, r.stderr
    graph = json.loads(r.stdout)
    roots = [n for n in graph["nodes"] if n["id"] in graph["roots"]]
    assert [(n["kind"], n["actor"], n["type"]) for n in roots] == [("command", "agent:pricing-bot", summary.incident["command_type"])]
    changed = [n for n in graph["nodes"] if n["type"] == "PriceChanged"]
    assert len(changed) == summary.incident["price_changes"]
    tree = run("lineage", str(path), "--correlation", corr, "--format", "tree")
    assert tree.returncode == 0 and tree.stdout.startswith(f"{summary.incident['command_type']} by agent:pricing-bot")
    one = changed[0]
    back = json.loads(run("lineage", str(path), "--event", f"#{one['position']}").stdout)
    assert any(n["kind"] == "command" and n["actor"] == "agent:pricing-bot" for n in back["nodes"])
    assert json.loads(run("lineage", str(path), "--event", one["id"]).stdout)["focus"] == back["focus"]


def test_lineage_errors_are_one_line(demo):
    path, _ = demo
    r = run("lineage", str(path), "--event", "no-such-event")
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _incident_positions(path, summary):
    r = run("events", str(path), "--correlation", summary.incident["correlation_id"], "--type", "PriceChanged",
            "--limit", "0", "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return rows[0]["position"], rows[-1]["position"], rows


def test_state_diff_and_history_tell_the_incident(demo):
    path, summary = demo
    first, last, changes = _incident_positions(path, summary)
    sku = changes[0]["data"]["sku"]
    before = {r["key"]: r for r in json.loads(run("state", str(path), "--projection", "products", "--at", str(first - 1)).stdout)}
    after = {r["key"]: r for r in json.loads(run("state", str(path), "--projection", "products", "--at", str(last)).stdout)}
    assert after[sku]["price"] == pytest.approx(round(before[sku]["price"] / 10, 2))
    diff = json.loads(run("diff", str(path), "--projection", "products", "--from", str(first - 1), "--to", str(last)).stdout)
    price_changes = {c["key"] for c in diff["changed"] if c["field"] == "price"}
    assert price_changes == {c["data"]["sku"] for c in changes}
    hist = json.loads(run("history", str(path), "--projection", "products", "--key", sku, "--field", "price",
                          "--format", "json").stdout)
    bad = [h for h in hist if h["correlation_id"] == summary.incident["correlation_id"]]
    assert len(bad) == 1 and bad[0]["actor"] == "agent:pricing-bot"
    assert bad[0]["command"] == f"{summary.incident['command_type']} by agent:pricing-bot"
    csv_out = run("state", str(path), "--projection", "types", "--format", "csv")
    assert csv_out.returncode == 0 and csv_out.stdout.splitlines()[0].startswith("key,")
    at_time = json.loads(run("state", str(path), "--projection", "products", "--at-time", changes[-1]["recorded_at"]).stdout)
    assert {r["key"]: r for r in at_time}[sku]["price"] == after[sku]["price"]


def test_unknown_projection_is_one_line(demo):
    path, _ = demo
    r = run("state", str(path), "--projection", "nope")
    assert r.returncode != 0 and "projections:" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_broken_plugin_is_reported_once_and_the_command_still_answers(demo, tmp_path):
    """A command that opens the store and looks up a projection loads the plugins once: one
    warning per disabled plugin on stderr, and the answer on stdout."""
    path, _ = demo
    bad = tmp_path / "half_done.py"
    bad.write_text("raise ImportError('half_done needs a module that is not installed')\n")
    r = run("state", str(path), "--projection", "types", "--plugin", str(bad))
    assert r.returncode == 0, r.stderr
    assert {row["key"] for row in json.loads(r.stdout)} >= {"PriceChanged"}
    warnings = [line for line in r.stderr.splitlines() if "plugin half_done disabled" in line]
    assert len(warnings) == 1 and "not installed" in warnings[0]
