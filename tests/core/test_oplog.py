"""The operator log: an intact chain verifies; any one-byte change anywhere (log or head file) is
detected and the first bad line named; deleted, inserted and reordered lines, a truncated tail and
a missing head are detected, and the log refuses to grow over a truncation; a crash between the
entry and its head is a warning; appenders in several processes keep one valid chain;
``inspector verify-log`` / ``inspector log``; and preview, compensate and submit (dry run and
execute) on the command line record entries with ids, counts and hashes but no payload values,
while a log that cannot be written refuses an executed submission and only warns for reads."""

from __future__ import annotations

import getpass
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.core import oplog
from inspector.core.oplog import GENESIS, OperatorLog, OplogError

ROOT = Path(__file__).resolve().parents[2]


def _fill(n: int = 3) -> OperatorLog:
    log = OperatorLog()
    for i in range(n):
        log.record("preview", actor=f"user:{i}", role="auditor", store="postgresql://u:secret@db/shop",
                   params={"i": i, "ids": ["e1", "e2"]}, result={"ok": True, "dropped": i * 10})
    return log


def _lines(log: OperatorLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def test_an_intact_chain_verifies_and_names_its_last_entry(data_dir):
    log = _fill(4)
    assert log.path == data_dir / "oplog" / "operator-log.jsonl"
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev == GENESIS and all(b.prev == a.hash for a, b in zip(entries, entries[1:]))
    assert all(oplog.entry_hash(e.to_json()) == e.hash for e in entries)
    e = entries[0]
    assert e.actor == "user:0" and e.role == "auditor" and e.action == "preview" and e.os_user
    assert e.store == {"url": "postgresql://u:***@db/shop"}  # never a password
    assert e.at.endswith("+00:00")
    head = json.loads((data_dir / "oplog" / "operator-log.head.json").read_text())
    assert (head["seq"], head["hash"]) == (4, entries[-1].hash)
    report = oplog.verify()
    assert report.ok and report.entries == 4 and report.last_seq == 4 and report.last_hash == entries[-1].hash
    assert "intact" in report.summary()
    # each line is the canonical JSON of its entry: nothing else in the file
    assert log.path.read_bytes() == b"".join((oplog.canonical(x.to_json()) + "\n").encode() for x in entries)
    # an empty log verifies too
    assert oplog.verify(data_dir / "none.jsonl").ok


def test_actor_defaults_to_the_os_user():
    e = oplog.record("fork", params={"to": 3})
    assert e.actor == getpass.getuser() == e.os_user
    assert oplog.record("submit", actor="  user:olga ").actor == "user:olga"


def test_every_one_byte_change_anywhere_is_detected(data_dir):
    log = _fill(3)
    original = log.path.read_bytes()
    head = oplog.head_path(log.path)
    head_bytes = head.read_bytes()
    starts = [0]
    for raw in _lines(log):
        starts.append(starts[-1] + len(raw))
    for i in range(len(original)):
        for new in {original[i] ^ 0x01, ord("0") if original[i] != ord("0") else ord("1")}:
            changed = bytearray(original)
            changed[i] = new
            log.path.write_bytes(bytes(changed))
            report = oplog.verify()
            line = next(n for n in range(1, len(starts)) if starts[n - 1] <= i < starts[n])
            assert not report.ok, f"byte {i} ({chr(original[i])!r} -> {chr(new)!r}) not detected"
            # the first bad line is the changed one (a changed line break merges it with the next)
            assert report.first_bad_line == line, (i, report.problems)
    log.path.write_bytes(original)
    for i in range(len(head_bytes)):
        changed = bytearray(head_bytes)
        changed[i] ^= 0x01
        head.write_bytes(bytes(changed))
        assert not oplog.verify().ok, f"head byte {i} not detected"
    head.write_bytes(head_bytes)
    assert oplog.verify().ok


def test_deleted_inserted_and_reordered_lines(data_dir):
    log = _fill(5)
    lines = _lines(log)

    def check(new_lines: list[bytes], kind: str, line: int) -> None:
        log.path.write_bytes(b"".join(new_lines))
        report = oplog.verify()
        assert not report.ok and report.problems[0].kind == kind and report.first_bad_line == line, report.problems
        assert f"line {line}" in report.summary()

    check(lines[:2] + lines[3:], "deleted", 3)  # entry 3 gone: line 3 is entry 4
    check(lines[:3] + [lines[1]] + lines[3:], "inserted", 4)  # entry 2 again after entry 3
    check([lines[0], lines[2], lines[1]] + lines[3:], "reordered", 2)
    # a forged entry with a valid hash of its own, chained to entry 2, inserted after it
    forged = {**json.loads(lines[2]), "actor": "user:mallory"}
    forged["hash"] = oplog.entry_hash(forged)
    check(lines[:2] + [(oplog.canonical(forged) + "\n").encode()] + lines[2:], "inserted", 4)
    # the same line replaced by the forgery: the next line no longer chains to it
    check(lines[:2] + [(oplog.canonical(forged) + "\n").encode()] + lines[3:], "inserted", 4)
    log.path.write_bytes(b"".join(lines))
    assert oplog.verify().ok


def test_a_truncated_tail_is_detected_and_the_log_refuses_to_grow_over_it(data_dir):
    log = _fill(4)
    lines = _lines(log)
    head = oplog.head_path(log.path)
    head_bytes = head.read_bytes()
    log.path.write_bytes(b"".join(lines[:2]))  # the chain of 2 entries is whole: only the head tells
    report = oplog.verify()
    assert not report.ok and report.problems[0].kind == "truncated"
    assert "ends at entry 2 but its head file records entry 4: 2 entries were removed" in report.summary()
    with pytest.raises(OplogError, match="removed or replaced at the end"):
        log.record("preview")
    assert head.read_bytes() == head_bytes and len(_lines(log)) == 2  # the evidence is left as it was
    # the whole log deleted, head kept
    log.path.unlink()
    assert oplog.verify().problems[0].kind == "truncated"
    with pytest.raises(OplogError, match="deleted or truncated"):
        log.record("preview")
    # the head deleted too, the log still there: the end cannot be checked
    log.path.write_bytes(b"".join(lines[:2]))
    head.unlink()
    report = oplog.verify()
    assert not report.ok and report.problems[0].kind == "head" and "missing" in report.problems[0].message
    with pytest.raises(OplogError, match="head file .* is missing"):
        log.record("preview")
    # an incomplete last line (an interrupted write)
    log.path.write_bytes(b"".join(lines)[:-5])
    head.write_bytes(head_bytes)
    assert oplog.verify().problems[0].kind in ("incomplete", "edited")
    with pytest.raises(OplogError, match="incomplete line"):
        log.record("preview")
    # the last line replaced by another valid entry: not the one the head records
    other = {**json.loads(lines[3]), "actor": "user:mallory"}
    other["hash"] = oplog.entry_hash(other)
    log.path.write_bytes(b"".join(lines[:3]) + (oplog.canonical(other) + "\n").encode())
    assert oplog.verify().problems[0].kind == "truncated"
    with pytest.raises(OplogError):
        log.record("preview")


def test_a_crash_between_the_entry_and_its_head_is_a_warning_and_heals(data_dir):
    log = _fill(3)
    e2 = log.entries()[1]
    oplog.head_path(log.path).write_text(oplog.canonical({"format": oplog.HEAD_FORMAT, "seq": 2, "hash": e2.hash})
                                         + "\n")
    report = oplog.verify()
    assert report.ok and "1 entry behind" in report.warnings[0]
    assert log.record("preview").seq == 4
    assert oplog.verify().ok and not oplog.verify().warnings
    # a head naming a hash the log does not hold is a problem, not a lag
    oplog.head_path(log.path).write_text(oplog.canonical({"format": oplog.HEAD_FORMAT, "seq": 2, "hash": "f" * 64})
                                         + "\n")
    assert oplog.verify().problems[0].kind == "head"
    with pytest.raises(OplogError):
        log.record("preview")


def appender() -> None:
    """``python -c 'from tests.core.test_oplog import appender; appender()' N TAG``."""
    n, tag = int(sys.argv[1]), sys.argv[2]
    for i in range(n):
        oplog.record("preview", actor=tag, params={"i": i})


def test_concurrent_appenders_in_several_processes_keep_one_valid_chain(data_dir):
    procs, n = 4, 25
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INSPECTOR_DATA_DIR": str(data_dir)}
    ps = [subprocess.Popen([sys.executable, "-c", "from tests.core.test_oplog import appender; appender()", str(n),
                            f"proc-{k}"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for k in range(procs)]
    for p in ps:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    report = oplog.verify()
    assert report.ok and report.entries == procs * n, report.problems
    entries = OperatorLog().entries()
    assert [e.seq for e in entries] == list(range(1, procs * n + 1))
    for k in range(procs):  # each process's own entries in its own order
        assert [e.params["i"] for e in entries if e.actor == f"proc-{k}"] == list(range(n))


def test_anchors_kept_elsewhere_catch_a_consistently_rewritten_log(data_dir):
    log = _fill(3)
    anchor = (2, log.entries()[1].hash)
    assert oplog.verify(anchors=[anchor]).ok
    # rewrite everything from entry 2 on, hashes and head included: only the anchor can tell
    entries = [e.to_json() for e in log.entries()]
    entries[1]["result"] = {"ok": True, "dropped": 0}
    for i in range(1, 3):
        entries[i]["prev"] = entries[i - 1]["hash"]
        entries[i]["hash"] = oplog.entry_hash(entries[i])
    log.path.write_text("".join(oplog.canonical(e) + "\n" for e in entries))
    oplog._write_head(log.path, 3, entries[2]["hash"])
    assert oplog.verify().ok
    report = oplog.verify(anchors=[anchor])
    assert not report.ok and report.problems[0].kind == "anchor" and "rewritten" in report.problems[0].message


def test_cli_verify_log_and_log(data_dir, capsys):
    log = _fill(3)
    assert main(["verify-log"]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out
    assert main(["log", "--tail", "2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in doc] == [2, 3] and doc[0]["actor"] == "user:1"
    assert main(["log"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 3 and "preview" in out and "user:2 (auditor)" in out
    e2 = log.entries()[1]
    assert main(["verify-log", "--anchor", f"2:{e2.hash}", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["anchors_checked"] == 1
    lines = _lines(log)
    log.path.write_bytes(lines[0] + lines[1].replace(b"user:1", b"user:7") + lines[2])
    assert main(["verify-log"]) == 1
    out = capsys.readouterr().out
    assert "was changed: line 2:" in out
    assert main(["verify-log", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and doc["first_bad_line"] == 2 and doc["problems"][0]["kind"] == "edited"
    other = data_dir / "elsewhere.jsonl"
    assert main(["verify-log", "--log", str(other)]) == 0  # nothing recorded there yet
    assert "empty" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # argparse: a usage error
        main(["verify-log", "--anchor", "nope"])
    assert exit_.value.code == 2 and "SEQ:HASH" in capsys.readouterr().err


def test_recording_records_failures_and_warns_when_the_log_cannot_be_written(data_dir, tmp_path):
    with pytest.raises(ValueError):
        with oplog.recording("preview", params={"x": 1}) as rec:
            raise ValueError("no such checkpoint 'x'")
    assert rec.entry.result == {"ok": False, "error": "no such checkpoint 'x'"}
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the log's folder would be")
    seen = []
    with oplog.recording("preview", path=blocked / "log.jsonl", warn=seen.append) as rec:
        rec.result = {"ok": True}
    assert rec.entry is None and "not recorded in the operator log" in seen[0]
    with pytest.raises(OplogError, match="cannot be written"):
        with oplog.recording("submit", path=blocked / "log.jsonl", required=True) as rec:
            rec.result = {"ok": True}


# -- what the command line records -------------------------------------------------------------------------


def test_preview_compensate_and_submit_record_ids_counts_and_hashes_not_payloads(sqlite_url, tmp_path, capsys,
                                                                                 data_dir, monkeypatch):
    from inspector.core.compensate import load_plan
    from tests.core.test_submit import ACTOR, BAD, PLUGIN, REASON, own_plan, own_store, scalar
    from inspector.plugins.manager import PluginManager

    plugin = tmp_path / "oplog_test_commands.py"
    plugin.write_text(PLUGIN)
    pm = PluginManager(paths=[plugin], entry_points_=True, checkout=False)
    wrong = own_store(sqlite_url)
    plan_file = own_plan(sqlite_url, pm, wrong).export(tmp_path / "plan.json")
    base = [sqlite_url, "--plugin", str(plugin)]
    rp = tmp_path / "replay.json"
    assert main(["preview", *base, "--skip-correlation", BAD, "--out", str(rp)]) == 0
    assert main(["compensate", *base, "--edit", str(plan_file), "--out", str(tmp_path / "again.json"),
                 "--role", "operator"]) == 0
    sub = ["submit", *base, "--plan", str(plan_file), "--write-url", sqlite_url, "--actor", ACTOR, "--reason", REASON,
           "--role", "operator"]
    assert main(sub) == 0
    assert main(sub + ["--execute"]) == 0
    capsys.readouterr()

    entries = OperatorLog().entries()
    assert [e.action for e in entries] == ["preview", "compensate", "submit", "submit.begin", "submit"]
    preview, comp, dry, begin, done = entries
    me = getpass.getuser()
    assert (preview.actor, preview.role) == (me, "viewer") and (comp.actor, comp.role) == (me, "operator")
    assert preview.params["skip_correlations"] == [BAD] and preview.result["dropped"] == 2
    assert preview.result["file"]["sha256"] == oplog.sha256_file(rp)
    assert preview.store["layout"] == "inspector" and preview.store["url"].endswith(".sqlite")
    plan = load_plan(plan_file)
    assert comp.result["plan_id"] == plan.plan_id and len(comp.result["steps"]) == 3
    assert comp.result["steps"][0]["compensates"] == [wrong["1"]] and comp.params["input_sha256"]
    assert (dry.actor, dry.params["execute"], dry.result["executed"]) == (ACTOR, False, False)
    assert [o["status"] for o in dry.result["outcomes"]] == ["would_apply"] * 3
    assert begin.params["plan_sha256"] == plan.sha256() and begin.result == {"phase": "begin"}
    assert [o["status"] for o in done.result["outcomes"]] == ["applied"] * 3 and done.result["ok"]
    assert all(o["positions"] for o in done.result["outcomes"]) and done.params["reason"] == REASON
    # no payload values: the amounts of the events and of the plan's steps appear nowhere
    text = oplog.log_path().read_text()
    # as numbers, not as the digits inside an event id or hash ("…-4e31-bac9-5003413ad9fe")
    assert '"amount"' not in text and not re.search(r"(?<![0-9a-f])-(999|500)(?![0-9a-f])", text)
    assert oplog.verify().ok

    # a log that cannot be written: reads warn and go on, an executed submission is refused
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "oplog").write_text("a file where the log's folder would be")
    monkeypatch.setenv("INSPECTOR_DATA_DIR", str(blocked))
    assert main(["preview", *base, "--skip-correlation", BAD]) == 0
    assert "was not recorded in the operator log" in capsys.readouterr().err
    before = scalar(sqlite_url, "SELECT COUNT(*) FROM inspector_audit")
    assert main(sub + ["--execute"]) == 1
    err = capsys.readouterr().err
    assert "submission refused, nothing was written" in err and err.count("\n") == 1
    assert scalar(sqlite_url, "SELECT COUNT(*) FROM inspector_audit") == before == 3
