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
