"""Verifying the operator log (``inspector.core.oplog``): every line, the chain between lines and
the head file, reported line by line so the first bad line is named.

What each kind of change looks like to ``verify_log``:

* a byte changed in a line: the line is no longer UTF-8, JSON, an entry, in canonical form, or its
  content no longer matches its hash (``edited``);
* a line deleted: the next line's ``seq`` skips and its ``prev`` names a hash that is not the
  previous line's (``deleted``); inserted or moved lines break ``seq`` and ``prev`` the same way
  (``inserted`` / ``reordered``);
* lines removed from the end: the chain is whole, but the head file records a later entry
  (``truncated``); the head file changed, missing or unreadable (``head``);
* an anchor (``seq:hash`` kept elsewhere) that the log does not hold (``anchor``).

A head file one or more entries *behind* the log whose entry is still in the log is what a crash
between appending an entry and replacing the head leaves: a warning, not a problem (the next
``record`` brings the head up to date)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


@dataclass(frozen=True)
class LogProblem:
    """One thing wrong with the log. ``line`` is 1-based (None: the head file or the log as a whole)."""

    kind: str  # edited | deleted | inserted | reordered | incomplete | truncated | head | anchor | unreadable
    message: str
    line: int | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "line": self.line, "seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class LogReport:
    path: Path
    entries: int
    last_seq: int | None
    last_hash: str | None
    head: dict[str, Any] | None
    problems: tuple[LogProblem, ...] = ()
    warnings: tuple[str, ...] = ()
    anchors_checked: int = 0
    more_problems: bool = field(default=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_line(self) -> int | None:
        return next((p.line for p in self.problems if p.line is not None), None)

    def summary(self) -> str:
        if self.ok:
            if not self.entries:
                return f"the operator log {self.path} is empty: nothing recorded yet"
            return (f"the operator log {self.path} is intact: {self.entries} entries, chain and head agree; last "
                    f"entry {self.last_seq}:{self.last_hash}")
        first = self.problems[0]
        where = f"line {first.line}: " if first.line is not None else ""
        return f"the operator log {self.path} was changed: {where}{first.message}"

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "entries": self.entries, "last_seq": self.last_seq,
                "last_hash": self.last_hash, "head": self.head, "first_bad_line": self.first_bad_line,
                "problems": [p.to_json() for p in self.problems], "more_problems": self.more_problems,
                "warnings": list(self.warnings), "anchors_checked": self.anchors_checked}


def _read_head(path: Path) -> tuple[dict[str, Any] | None, LogProblem | None]:
    from .oplog import HEAD_FORMAT, canonical, head_path

    hp = head_path(path)
    try:
        raw = hp.read_bytes()
    except FileNotFoundError:
        return None, None
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
        if not isinstance(doc, dict) or set(doc) != {"format", "seq", "hash"} or doc["format"] != HEAD_FORMAT:
            raise ValueError("not a head file")
        if canonical(doc) + "\n" != text or not isinstance(doc["seq"], int) or not isinstance(doc["hash"], str):
            raise ValueError("not in canonical form")
        return {"seq": doc["seq"], "hash": doc["hash"]}, None
    except ValueError as e:
        return None, LogProblem("head", f"the head file {hp.name} was edited or is damaged ({e})")


def verify_log(path: str | Path, anchors: Iterable[tuple[int, str]] = ()) -> LogReport:
    """Check every line of the log at ``path``, the chain, the head file and ``anchors``."""
    from .oplog import FIELDS, GENESIS, MAX_PROBLEMS, canonical, entry_hash, head_path

    path = Path(path)
    problems: list[LogProblem] = []
    warnings: list[str] = []
    by_seq: dict[int, str] = {}
    count, prev_seq, prev_hash = 0, 0, GENESIS
    gaps: dict[int, range] = {}  # problem index -> the sequence numbers missing there

    def problem(kind: str, message: str, line: int | None = None, seq: int | None = None) -> None:
        problems.append(LogProblem(kind, message, line, seq))

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    except OSError as e:
        return LogReport(path, 0, None, None, None, (LogProblem("unreadable", f"cannot read the log: {e}"),))
    lines = data.split(b"\n") if data else []
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        problem("incomplete", "the last line has no end (an interrupted write, or bytes added or removed at the end)",
                len(lines))
    for n, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problem("edited", "not valid UTF-8 (edited)", n)
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            problem("edited", "not a JSON entry (edited, or a line break added or removed)", n)
            continue
        if not isinstance(doc, dict) or set(doc) != set(FIELDS) or not isinstance(doc.get("seq"), int) \
                or not isinstance(doc.get("hash"), str) or not isinstance(doc.get("prev"), str):
            problem("edited", "not an operator log entry (fields added, removed or of the wrong type)", n)
            continue
        count += 1
        seq = doc["seq"]
        if canonical(doc) != text:
            problem("edited", f"entry {seq} is not in canonical form (its bytes were changed)", n, seq)
        elif entry_hash(doc) != doc["hash"]:
            problem("edited", f"entry {seq} does not match its hash (its content was changed)", n, seq)
        if seq != prev_seq + 1 or doc["prev"] != prev_hash:
            if seq > prev_seq + 1 and doc["prev"] != prev_hash:
                kind, what = "deleted", f"entries {prev_seq + 1}..{seq - 1} are missing before entry {seq} (deleted)"
            elif seq <= prev_seq and seq in by_seq:
                kind, what = "inserted", (f"a second entry {seq} after entry {prev_seq} (a line was inserted, "
                                          "duplicated or replaced)")
            elif seq <= prev_seq:
                kind, what = "reordered", f"entry {seq} comes after entry {prev_seq} (lines reordered)"
            elif seq == prev_seq + 1:
                kind, what = "inserted", (f"entry {seq} does not chain to the line before it (its prev is not that "
                                          "entry's hash: that line was replaced, or a line was inserted)")
            else:
                kind, what = "edited", f"entry {seq}: its sequence number and its prev disagree (edited)"
            problem(kind, what, n, seq)
            if kind == "deleted":
                gaps[len(problems) - 1] = range(prev_seq + 1, seq)
        by_seq.setdefault(seq, doc["hash"])
        if seq > prev_seq:  # a line out of order is reported once; the chain goes on from the last in order
            prev_seq, prev_hash = seq, doc["hash"]
        if len(problems) > MAX_PROBLEMS:
            break
    for i, missing in gaps.items():  # the "missing" entries come later in the file: moved, not deleted
        if all(m in by_seq for m in missing):
            p = problems[i]
            problems[i] = LogProblem("reordered", f"entry {p.seq} comes before entries {missing.start}.."
                                     f"{missing.stop - 1} (lines reordered)", p.line, p.seq)
    last_seq = prev_seq if count else None
    last_hash = prev_hash if count else None

    head, head_problem = _read_head(path)
    if head_problem:
        problems.append(head_problem)
    elif head is None:
        if count:
            problem("head", f"the head file {head_path(path).name} is missing: the end of the log cannot be checked "
                            "(deleted, or the log was copied without it)")
    elif head["seq"] > (last_seq or 0):
        problem("truncated", f"the log ends at entry {last_seq or 0} but its head file records entry {head['seq']}: "
                             f"{head['seq'] - (last_seq or 0)} entr{'y was' if head['seq'] - (last_seq or 0) == 1 else 'ies were'} "
                             "removed from the end", len(lines) or None, head["seq"])
    elif head["seq"] == (last_seq or 0):
        if head["seq"] and head["hash"] != last_hash:
            problem("truncated", f"the last entry ({last_seq}) is not the one its head file records (replaced at "
                                 "the end)", len(lines), last_seq)
    else:
        if by_seq.get(head["seq"], GENESIS if head["seq"] == 0 else None) != head["hash"]:
            problem("head", f"the head file records entry {head['seq']} with a hash the log does not hold")
        else:
            warnings.append(f"the head file is {last_seq - head['seq']} entr"
                            f"{'y' if last_seq - head['seq'] == 1 else 'ies'} behind the log (a crash between "
                            "writing an entry and its head?); the next entry brings it up to date")

    checked = 0
    for seq, digest in anchors:
        checked += 1
        have = by_seq.get(int(seq))
        if have is None:
            problem("anchor", f"anchor {seq}:{digest[:12]}…: the log holds no entry {seq}", None, int(seq))
        elif have != digest:
            problem("anchor", f"anchor {seq}:{digest[:12]}…: entry {seq} has hash {have[:12]}… (rewritten)", None,
                    int(seq))
    problems.sort(key=lambda p: (p.line is None, p.line or 0))  # the first names the first bad line
    more = len(problems) > MAX_PROBLEMS
    return LogReport(path, count, last_seq, last_hash, head, tuple(problems[:MAX_PROBLEMS]), tuple(warnings), checked, more)
