"""The README's complete compensation plugin (``acme_accounts.py``) works as the guide says: taken
from the README as it is, loaded with ``--plugin``, it proposes one correction per account a plan
changes, the residual on its read model is empty, and a viewer sees the holder's name masked."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from inspector.core import ownstore
from inspector.core.compensate import Composer, StoreContext, histories_for, speculate
from inspector.core.ownstore import NewEvent
from inspector.core.replay import preview_skip
from inspector.core.replay_values import Selection
from inspector.core.roles import MASK
from inspector.core.session import open_store
from inspector.plugins.manager import PluginManager
from tests.core.test_checkpoints import write_store

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)


def readme_plugin(tmp_path: Path) -> Path:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"```python\n# acme_accounts\.py\n(.*?)```", text, re.S)
    assert m, "the README's plugin guide lost its acme_accounts.py example"
    path = tmp_path / "acme_accounts.py"
    path.write_text(m.group(1))
    return path


def test_the_readme_compensation_plugin_proposes_corrections_with_an_empty_residual(db_url, tmp_path):
    bot = str(uuid.uuid4())
    rows = [("account-1", "Deposited", {"amount": 100.0, "holder": "Ann Example"}, None),
            ("account-2", "Deposited", {"amount": 50.0, "holder": "Bo Example"}, None),
            ("account-1", "Withdrawn", {"amount": 30.0}, bot),
            ("account-2", "Withdrawn", {"amount": 50.0}, bot),
            ("account-1", "Deposited", {"amount": 5.0}, None)]
    versions: dict[str, int] = {}
    events = []
    for i, (stream, etype, data, corr) in enumerate(rows):
        versions[stream] = versions.get(stream, 0) + 1
        events.append(NewEvent(str(uuid.uuid4()), stream, versions[stream], etype, T0 + dt.timedelta(minutes=i),
                               data, None, None, corr, "agent:bot" if corr else "user:teller"))
    write_store(db_url, events)
    pm = PluginManager(paths=[readme_plugin(tmp_path)], checkout=False)
    assert {p.name: p for p in pm.status()}["acme_accounts"].ok
    assert sorted(h for h in {p.name: p for p in pm.status()}["acme_accounts"].hooks) == [
        "propose_compensations", "register_commands", "register_masking_rules", "register_projections"]
    opened = open_store(db_url, pm.layout_definitions(), pm.codecs(), layout=ownstore.LAYOUT)
    try:
        projections = {p.name: p for p in pm.projections()}
        rp = preview_skip(opened.store, Selection(correlation_ids=(bot,)), projections=[projections["balances"]])
        ctx = StoreContext(opened.store, rp, histories_for(opened.store, rp, projections))
        plan = Composer(ctx, pm.commands()).propose(pm)
        assert [(s.command, dict(s.values), s.expected_version) for s in plan.steps] == [
            ("Correct", {"account": "1", "amount": 30.0, "reason": "compensation"}, 3),
            ("Correct", {"account": "2", "amount": 50.0, "reason": "compensation"}, 2)]
        residual = speculate(plan, ctx).residual("balances")
        assert residual.empty and residual.result == {"1": {"balance": 105.0, "holder": "Ann Example"},
                                                      "2": {"balance": 50.0, "holder": "Bo Example"}}
    finally:
        opened.store.close()
    viewer = open_store(db_url, pm.layout_definitions(), pm.codecs(), layout=ownstore.LAYOUT, role="viewer",
                        masking_rules=pm.masking_rules())
    try:
        first = next(iter(viewer.store.iter_events()))
        assert first.data == {"amount": 100.0, "holder": MASK}
    finally:
        viewer.store.close()
