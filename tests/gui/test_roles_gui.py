"""Roles in the desktop app, on the demo shop: the role is always on show (badge and title); a
viewer's window never holds a personal value (event table cells and tooltips, the detail pane's
trees, banner and raw view, the state panel's customer balances); text search is off for a viewer;
the connect dialog chooses the role, capped by the connection's profiles."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItemIterator

from inspector.core.model import EventFilter
from inspector.core.profiles import ProfileBook
from inspector.core.roles import MASK, RAW_WITHHELD, Role
from inspector.core.session import open_store
from inspector.gui.connect_dialog import ConnectDialog
from inspector.gui.detail import raw_text
from inspector.gui.main_window import MainWindow

from .conftest import CORRUPT_POSITIONS, WAIT_MS, settled

PERSONAL_TYPES = ("CustomerRegistered", "CustomerEmailChanged", "CustomerAddressChanged")


@pytest.fixture(scope="module")
def personal(shop_path, plugin_manager) -> set[str]:
    o = open_store(str(shop_path), plugin_manager.layout_definitions(), plugin_manager.codecs(), role="auditor")
    try:
        found: set[str] = set()
        for e in o.store.iter_events(EventFilter(types=PERSONAL_TYPES)):
            found.update(str(e.data[k]) for k in ("name", "email", "phone", "street") if k in e.data)
            found.add(e.metadata["ip"])
    finally:
        o.store.close()
    assert len(found) > 20
    return found


def make_window(qtbot, shop_path, plugin_manager, role: str) -> MainWindow:
    opened = open_store(str(shop_path), plugin_manager.layout_definitions(), plugin_manager.codecs(), role=role,
                        masking_rules=plugin_manager.masking_rules())
    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and settled(w), timeout=WAIT_MS)
    return w


@pytest.fixture
def viewer(qtbot, shop_path, plugin_manager):
    w = make_window(qtbot, shop_path, plugin_manager, "viewer")
    yield w
    w.close()


def table_text(w: MainWindow) -> str:
    m = w.model
    out = []
    for r in range(m.rowCount()):
        for c in range(m.columnCount()):
            for role in (Qt.DisplayRole, Qt.ToolTipRole):
                v = m.index(r, c).data(role)
                if v is not None:
                    out.append(str(v))
    return "\n".join(out)


def tree_text(tree: QTreeWidget) -> str:
    out = []
    it = QTreeWidgetItemIterator(tree)
    while it.value():
        item = it.value()
        out += [item.text(0), item.text(1), item.toolTip(1) or ""]
        it += 1
    return "\n".join(out)


def detail_text(w: MainWindow) -> str:
    d = w.detail
    return "\n".join([tree_text(d.payload_tree), tree_text(d.metadata_tree), d.raw_view.toPlainText(),
                      d.banner.text(), *(v.text() for v in d.values.values())])


def leaked(text: str, personal: set[str]) -> list[str]:
    return sorted(v for v in personal if v in text)


def show_personal_events(qtbot, w: MainWindow) -> None:
    w.filter_bar.set_filter(EventFilter(types=PERSONAL_TYPES))
    qtbot.waitUntil(lambda: settled(w) and w.model.rowCount() > 0
                    and all(w.model.event_at(r) is not None and w.model.event_at(r).type in PERSONAL_TYPES
                            for r in range(min(3, w.model.rowCount()))), timeout=WAIT_MS)


def test_the_role_is_always_on_show(qtbot, viewer, shop_path, plugin_manager):
    badge = viewer.role_badge
    assert badge.isVisible() and badge.text().strip().startswith("VIEWER")
    assert viewer.menuBar().cornerWidget(Qt.TopRightCorner) is badge
    assert viewer.windowTitle().endswith("[viewer · personal data masked]") and viewer.role() is Role.VIEWER
    assert "CustomerRegistered, RegisterCustomer: name, email" in badge.toolTip()
    # the menu bar, which holds the badge, is the one bar the View menu cannot hide
    for name in ("Filter bar", "Status bar"):
        viewer.view_actions[name].setChecked(False)
    assert badge.isVisible()
    # text search is off for a viewer (the matches would tell whether a masked value is stored)
    assert not viewer.filter_bar.text_edit.isEnabled() and not viewer.find_action.isEnabled()

    auditor = make_window(qtbot, shop_path, plugin_manager, "operator")
    try:
        assert auditor.role_badge.text().strip() == "OPERATOR" and auditor.windowTitle().endswith("[operator]")
        assert auditor.filter_bar.text_edit.isEnabled()
    finally:
        auditor.close()


def test_a_viewers_table_and_detail_hold_no_personal_value(qtbot, viewer, personal):
    show_personal_events(qtbot, viewer)
    text = table_text(viewer)
    assert MASK in text and leaked(text, personal) == []
    for row in range(min(viewer.model.rowCount(), 25)):
        viewer.table.selectRow(row)
        qtbot.waitUntil(lambda: viewer.detail.current is not None
                        and viewer.detail.current.position == viewer.model.event_at(row).position, timeout=WAIT_MS)
        for raw in (False, True):
            viewer.detail.raw_button.setChecked(raw)
            assert leaked(detail_text(viewer), personal) == []
        assert viewer.detail.raw_view.toPlainText() == RAW_WITHHELD
        assert MASK in tree_text(viewer.detail.payload_tree)


def test_a_viewer_sees_decode_errors_without_the_payloads_bytes(qtbot, viewer, shop_path, plugin_manager):
    pos = CORRUPT_POSITIONS[1]  # random bytes: an auditor's raw view shows them as a hex dump
    viewer.select_position(pos)
    qtbot.waitUntil(lambda: viewer.detail.current is not None and viewer.detail.current.position == pos,
                    timeout=WAIT_MS)
    opened = open_store(str(shop_path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        stored = opened.store.get(pos)
    finally:
        opened.store.close()
    e = viewer.detail.current
    assert e.decode_error == stored.decode_error  # "encrypted payload (64 bytes): …" quotes nothing
    viewer.detail.raw_button.setChecked(True)
    assert viewer.detail.raw_view.toPlainText() == RAW_WITHHELD
    first_bytes = stored.raw[:6].hex(" ")
    assert first_bytes in raw_text(stored.raw) and first_bytes not in detail_text(viewer)


def test_a_viewers_state_panel_masks_the_customers(qtbot, viewer, personal, shop_path, plugin_manager):
    panel = viewer.state_panel
    panel.choose("customer_balances")
    qtbot.waitUntil(lambda: panel.history is not None and panel.is_idle() and panel.model.rowCount() > 0,
                    timeout=WAIT_MS)
    m = panel.model
    cells = [str(m.index(r, c).data(Qt.DisplayRole)) for r in range(m.rowCount()) for c in range(m.columnCount())]
    headers = [str(m.headerData(c, Qt.Horizontal)) for c in range(m.columnCount())]
    assert "name" in headers and MASK in cells and leaked("\n".join(cells), personal) == []

    auditor = make_window(qtbot, shop_path, plugin_manager, "auditor")
    try:  # the same panel for an auditor does show the names: the check above looks at real values
        auditor.state_panel.choose("customer_balances")
        qtbot.waitUntil(lambda: auditor.state_panel.history is not None and auditor.state_panel.is_idle()
                        and auditor.state_panel.model.rowCount() > 0, timeout=WAIT_MS)
        am = auditor.state_panel.model
        shown = "\n".join(str(am.index(r, c).data(Qt.DisplayRole)) for r in range(am.rowCount())
                          for c in range(am.columnCount()))
        assert leaked(shown, personal)
    finally:
        auditor.close()


def test_the_connect_dialog_chooses_the_role_within_the_profiles_ceiling(qtbot, plugin_manager, shop_path, tmp_path):
    book = ProfileBook(tmp_path / "profiles.json")
    book.add("shop-view", str(shop_path), "viewer", note="the demo shop, masked")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)  # not the user's recent list
    d = ConnectDialog(plugin_manager, settings=settings, profiles=book)
    qtbot.addWidget(d)
    d.show()
    assert d.profile_list.count() == 1 and d.role() is Role.VIEWER  # the default, before any URL

    # a URL without a profile: every role, viewer until another is chosen
    d.url_edit.setText(str(tmp_path / "elsewhere.sqlite"))
    combo = d.role_chooser.combo
    assert all(combo.model().item(i).isEnabled() for i in range(combo.count())) and d.role() is Role.VIEWER
    d.role_chooser.set_role("operator")
    assert d.role() is Role.OPERATOR

    # the profile's URL, chosen from the list or typed: capped at its role
    d.use_profile(book.get("shop-view"))
    assert d.role() is Role.VIEWER and "allows at most viewer" in d.role_chooser.hint.text()
    assert [combo.model().item(i).isEnabled() for i in range(combo.count())] == [True, False, False]
    d.url_edit.setText(str(shop_path))
    assert d.role() is Role.VIEWER

    d.accept()  # tests the connection first, then opens
    qtbot.waitUntil(lambda: d.result_store() is not None, timeout=WAIT_MS)
    opened = d.result_store()
    try:
        assert opened.role is Role.VIEWER
        reg = next(opened.store.iter_events(EventFilter(types=("CustomerRegistered",))))
        assert reg.data["email"] == MASK
    finally:
        opened.store.close()
    assert d.recent() == [f"sqlite:///{shop_path}"]
