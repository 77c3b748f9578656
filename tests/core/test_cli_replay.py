"""Rollback previews from the command line, as an operator or a script uses them: checkpoints,
truncate and skip previews, forks; on the demo shop's pricing-bot incident."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.demo import create_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    path = root / "shop.sqlite"
    return path, create_demo(path, events=3000, seed=5), root / "data"


def run(demo, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INSPECTOR_DATA_DIR": str(demo[2])}  # checkpoints go to the test's own folder
    return subprocess.run([sys.executable, "-m", "inspector.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def events(demo, path: Path, *args: str) -> list[dict]:
    out = ok(run(demo, "events", str(path), "--limit", "0", "--format", "jsonl", *args))
    return [json.loads(line) for line in out.splitlines()]


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_a_checkpoint_before_the_bots_run_and_what_truncating_to_it_would_do(demo, tmp_path):
    path, summary, _ = demo
    corr = summary.incident["correlation_id"]
    run_events = events(demo, path, "--correlation", corr)
    cp = json.loads(ok(run(demo, "checkpoint", str(path), "--format", "json", "add", "before-bot",
                           "--before-correlation", corr, "--note", "before the bad reprice")))
    assert cp["position"] == run_events[0]["position"] - 1 and cp["note"] == "before the bad reprice"
    listed = json.loads(ok(run(demo, "checkpoint", str(path), "--format", "json", "list")))
    assert [c["name"] for c in listed] == ["before-bot"]
    one_line_error(run(demo, "checkpoint", str(path), "add", "before-bot", "--at", "5"), "exists already")

    plan_file = tmp_path / "plan.json"
    out = json.loads(ok(run(demo, "preview", str(path), "--truncate-to", "before-bot", "--projection", "products",
                            "--format", "json", "--out", str(plan_file))))
    assert json.loads(plan_file.read_text()) == out
    after = events(demo, path, "--after", str(cp["position"]))
    assert out["kind"] == "truncate" and out["position"] == cp["position"]
    assert out["dropped"]["count"] == len(after)
    # the bot's run is what the operator is after; everything else dropped is collateral
    assert out["collateral"]["count"] == len(after) - len(run_events)
    # the resulting products are the products as of the checkpoint
    at = {r["key"]: r for r in json.loads(ok(run(demo, "state", str(path), "--projection", "products",
                                                 "--at", str(cp["position"]))))}
    changed = [c for c in out["projections"]["products"]["changed"] if c["field"] == "price"]
    assert changed and all(c["new"] == at[c["key"]]["price"] for c in changed)
    bot_skus = {e["data"]["sku"] for e in run_events if e["type"] == "PriceChanged"}
    assert bot_skus <= {k for k in at}

    text = ok(run(demo, "preview", str(path), "--truncate-to", "before-bot", "--projection", "products"))
    assert f"dropped: {len(after):,} events" in text and "products:" in text


def test_skipping_the_bots_run_lists_exactly_its_events(demo):
    path, summary, _ = demo
    corr = summary.incident["correlation_id"]
    run_events = events(demo, path, "--correlation", corr)
    out = json.loads(ok(run(demo, "preview", str(path), "--skip-correlation", corr, "--projection", "products",
                            "--projection", "streams", "--format", "json")))
    assert out["kind"] == "skip" and out["selection"]["correlation_ids"] == [corr]
    assert out["dropped"]["count"] == len(run_events)
    assert sorted(e["event_id"] for e in out["dropped"]["events"]) == sorted(e["event_id"] for e in run_events)
    assert out["collateral"] is None
    assert set(out["projections"]) == {"products", "streams"}


def test_forks_write_a_new_store_and_leave_the_original_alone(demo, tmp_path):
    path, summary, _ = demo
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    total = len(events(demo, path))
    ok(run(demo, "checkpoint", str(path), "add", "half", "--at", str(total // 2)))
    fork = tmp_path / "half.sqlite"
    done = json.loads(ok(run(demo, "fork", str(path), "--checkpoint", "half", "--out", str(fork), "--format", "json")))
    kept = events(demo, fork)
    assert done["events"] == len(kept) == len(events(demo, path, "--before", str(total // 2 + 1)))
    assert kept[-1]["position"] <= total // 2
    one_line_error(run(demo, "fork", str(path), "--to", "10", "--out", str(fork)), "exists")
    assert len(events(demo, fork)) == len(kept)  # the refused fork changed nothing
    ok(run(demo, "fork", str(path), "--to", "10", "--out", str(fork), "--overwrite"))
    assert len(events(demo, fork)) == len(events(demo, path, "--before", "11"))

    corr = summary.incident["correlation_id"]
    plan = tmp_path / "skip.json"
    ok(run(demo, "preview", str(path), "--skip-correlation", corr, "--out", str(plan)))
    skipped = tmp_path / "skipped.sqlite"
    ok(run(demo, "fork", str(path), "--plan", str(plan), "--out", str(skipped)))
    ids = {e["event_id"] for e in events(demo, skipped)}
    assert len(ids) == total - len(events(demo, path, "--correlation", corr))
    assert not ids & {e["event_id"] for e in events(demo, path, "--correlation", corr)}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("args, words", [
    (("preview", "--skip-actor", "agent:pricing-bot", "--stream", "product-X"), ("--truncate-to",)),
    (("preview", "--truncate-to", "5", "--since", "2026-10-01"), ("--skip-actor",)),
    (("preview", "--truncate-to", "no-such-checkpoint"), ("no-such-checkpoint",)),
    (("preview", "--truncate-to", "99999999"), ("beyond the head",)),
    (("preview", "--skip-correlation", "no-such-run"), ("no-such-run",)),
    (("preview", "--skip-event", "no-such-event"), ("no-such-event",)),
    (("checkpoint", "add", "x", "--at", "5", "--since", "2026-10-01"), ("--before-actor",)),
    (("checkpoint", "remove", "never-made"), ("never-made",)),
    (("fork", "--plan", "/no/such/plan.json", "--out", "x.sqlite"), ("plan",)),
])
def test_mistakes_get_one_line_and_write_nothing(demo, tmp_path, args, words):
    path = demo[0]
    r = run(demo, args[0], str(path), *args[1:])
    one_line_error(r, *words)
    assert not (Path.cwd() / "x.sqlite").exists()


def test_bench_reports_the_history_and_preview_figures():
    r = subprocess.run([sys.executable, "-m", "inspector.cli", "bench", "--synthetic", "600", "--no-gui",
                        "--repeats", "1"], capture_output=True, text=True, timeout=600)
    out = json.loads(ok(r))
    for name in ("raw_decode_eps", "history_build_eps", "build_vs_raw", "history_bytes_per_event", "as_of_ms_median",
                 "diff_ms_median", "preview_truncate_ms", "preview_skip_ms", "preview_skip_events"):
        assert isinstance(out[name], (int, float)) and out[name] >= 0, name


def test_a_fork_diffs_against_its_original(demo, tmp_path):
    """``diff FORK --against ORIGINAL``: the fork to P's read model against the original's head is
    the original's own diff from its head to P."""
    path = demo[0]
    total = len(events(demo, path))
    p = total * 2 // 3
    fork = tmp_path / "two-thirds.sqlite"
    ok(run(demo, "fork", str(path), "--to", str(p), "--out", str(fork)))
    across = json.loads(ok(run(demo, "diff", str(fork), "--against", str(path), "--projection", "products")))
    within = json.loads(ok(run(demo, "diff", str(path), "--projection", "products", "--from", str(total),
                               "--to", str(p))))
    assert sorted(r["key"] for r in across["removed"]) == sorted(r["key"] for r in within["removed"])
    assert sorted(r["key"] for r in across["added"]) == sorted(r["key"] for r in within["added"])
    assert {(c["key"], c["field"]) for c in across["changed"]} == {(c["key"], c["field"]) for c in within["changed"]}
    assert across["changed"] and across["removed"]
    one_line_error(run(demo, "diff", str(fork), "--against", str(path), "--projection", "products", "--from", "1"),
                   "--against")
