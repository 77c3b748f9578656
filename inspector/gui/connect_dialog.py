"""The connect dialog: a database URL or SQLite file, a connection test that shows which layouts fit
and why (connect + detect run on a worker), the mapping editor for stores the inspector does not
know, and the recent connections (kept by ``recent_connections``, without their passwords)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from inspector.core.codecs import CodecPipeline
from inspector.core.connect import create_engine, describe_error, normalize_url, redact
from inspector.core.detect import Detection, LayoutCandidate, detect, validate_layout
from inspector.core.errors import InspectorError
from inspector.core.layout import Layout, load_mapping
from inspector.core.profiles import Ceiling, Profile, ProfileBook, ProfileError, ceiling, resolve_role
from inspector.core.roles import DEFAULT_ROLE, Role, RoleStore
from inspector.core.schema import SchemaInfo, reflect
from inspector.core.session import OpenedStore

from .layout_candidates import CandidateRole, CandidateTree
from .mapping_editor import MappingEditor
from .recent_connections import RECENT_KEY, RecentConnections, display_url, recall
from .role_chooser import RoleChooser
from .workers import Cancelled, Task, TaskRunner

# RECENT_KEY is defined in recent_connections and read from here too (by the tests, for one).
__all__ = ["RECENT_KEY", "ConnectDialog", "Probe", "probe"]

PASSWORD_HINT = "not saved; leave empty if the URL has it or none is needed"
SQLITE_FILTER = "SQLite databases (*.sqlite *.sqlite3 *.db *.db3);;All files (*)"


@dataclass(frozen=True)
class Probe:
    """What a connection test found: a read-only engine, the tables, and the fitting layouts."""

    engine: Engine
    schema: SchemaInfo
    detection: Detection


def probe(url: str, definitions: list, abandoned: threading.Event) -> Probe:
    """Connect read-only, reflect and detect (on a worker thread). Raises ConnectError with one line."""
    engine = create_engine(url, read_only=True)
    try:
        schema = reflect(engine)
        try:
            detection = detect(engine, definitions, schema=schema)
        except ImportError:  # no heuristic proposals in this build
            detection = detect(engine, definitions, schema=schema, propose=False)
    except BaseException:
        engine.dispose()
        raise
    if abandoned.is_set():  # the dialog moved on while we were connecting: nobody will use it
        engine.dispose()
        raise Cancelled()
    return Probe(engine, schema, detection)


def is_server_url(text: str) -> bool:
    return "://" in text and not text.strip().lower().startswith("sqlite")


class ConnectDialog(QDialog):
    """Pick a database, a layout and the session's role (capped by the database's profiles). After
    ``exec()`` returns Accepted: ``result_store()`` is the opened store (its engine read-only, its
    role ``result_store().role``), ``result_spec()`` says how to open it again."""

    sig_tested = Signal(bool)  # a connection test finished: True when connected
    sig_mapping_editor_opened = Signal(object)  # the MappingEditor, shown window-modal

    def __init__(self, plugin_manager, parent: QWidget | None = None, settings: QSettings | None = None,
                 runner: TaskRunner | None = None, profiles: ProfileBook | None = None):
        super().__init__(parent)
        self.setObjectName("connectDialog")
        self.setWindowTitle("Open an event store")
        self.pm = plugin_manager
        self.recents = RecentConnections(settings)
        self.profiles = profiles if profiles is not None else ProfileBook()
        self._runner = runner or TaskRunner(self, max_threads=2)
        self._task: Task | None = None
        self._abandoned = threading.Event()
        self._token = 0
        self.probe: Probe | None = None  # the last successful test, for the URL in the field
        self._tested_url: str | None = None
        self._open_after_test = False
        self.mapping: Layout | None = None  # a custom mapping (editor or file) for this database
        self.mapping_editor: MappingEditor | None = None
        self._result: OpenedStore | None = None
        self._spec: tuple[str, str | None, Layout | None] | None = None
        self._build()
        self.load_profiles()
        self.load_recent()

    # -- building ------------------------------------------------------------------------
    def _build(self) -> None:
        self.recent_list = QListWidget(objectName="recentList")
        self.recent_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recent_list.itemClicked.connect(self._recent_chosen)
        self.recent_list.itemActivated.connect(self._recent_activated)
        self.profile_list = QListWidget(objectName="profileList")
        self.profile_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.profile_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.profile_list.itemClicked.connect(lambda item: self.use_profile(item.data(Qt.ItemDataRole.UserRole)))
        self.profile_title = QLabel("<b>Profiles</b>", objectName="profileTitle")
        recent_box = QWidget()
        rl = QVBoxLayout(recent_box)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.profile_title)
        rl.addWidget(self.profile_list)
        rl.addWidget(QLabel("<b>Recent</b>"))
        rl.addWidget(self.recent_list, 1)
        hint = QLabel("Passwords are never saved.", objectName="recentHint")
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        rl.addWidget(hint)

        self.url_edit = QLineEdit(objectName="urlEdit", clearButtonEnabled=True)
        self.url_edit.setPlaceholderText("postgresql://user@host/db, mysql://user@host/db or a SQLite file path")
        self.url_edit.textChanged.connect(self._url_changed)
        self.url_edit.returnPressed.connect(self.test_connection)
        self.browse_button = QPushButton("Browse…", objectName="browseButton")
        self.browse_button.clicked.connect(self._browse)
        self.password_label = QLabel("Password", objectName="passwordLabel")
        self.password_edit = QLineEdit(objectName="passwordEdit", echoMode=QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(PASSWORD_HINT)
        self.password_edit.textChanged.connect(self._url_changed)
        self.password_edit.returnPressed.connect(self.test_connection)
        self.test_button = QPushButton("Test connection", objectName="testButton")
        self.test_button.clicked.connect(self.test_connection)
        self.role_chooser = RoleChooser(self)
        self.role_chooser.sig_role_changed.connect(lambda _role: self._update_buttons())

        form = QGridLayout()
        form.addWidget(QLabel("Database"), 0, 0)
        form.addWidget(self.url_edit, 0, 1)
        form.addWidget(self.browse_button, 0, 2)
        form.addWidget(self.password_label, 1, 0)
        form.addWidget(self.password_edit, 1, 1)
        form.addWidget(self.test_button, 1, 2)
        form.addWidget(QLabel("Role"), 2, 0)
        form.addWidget(self.role_chooser, 2, 1, 1, 2)
        form.setColumnStretch(1, 1)

        self.status_label = QLabel(objectName="statusLabel", wordWrap=True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.candidate_list = CandidateTree(objectName="candidateList")
        self.candidate_list.itemSelectionChanged.connect(self._update_buttons)
        self.candidate_list.itemDoubleClicked.connect(lambda item, _c: self.accept() if item.data(0, CandidateRole) else None)
        self.edit_mapping_button = QPushButton("Edit mapping…", objectName="editMappingButton")
        self.edit_mapping_button.clicked.connect(lambda: self.open_mapping_editor())
        self.load_mapping_button = QPushButton("Load mapping file…", objectName="loadMappingButton")
        self.load_mapping_button.clicked.connect(self._load_mapping_clicked)
        mapping_row = QHBoxLayout()
        mapping_row.addWidget(QLabel("Layouts that fit, best first (select one to override):"), 1)
        mapping_row.addWidget(self.edit_mapping_button)
        mapping_row.addWidget(self.load_mapping_button)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addLayout(form)
        rv.addWidget(self.status_label)
        rv.addLayout(mapping_row)
        rv.addWidget(self.candidate_list, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(recent_box)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 620])

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel,
                                        objectName="connectButtons")
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setDefault(False)
        self.open_button.setAutoDefault(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.buttons)
        self.resize(900, 480)
        self._url_changed()

    # -- profiles and roles --------------------------------------------------------------
    def load_profiles(self) -> None:
        self.profile_list.clear()
        try:
            found = self.profiles.list()
        except ProfileError as e:
            found = []
            self._set_status(str(e), error=True)
        for p in found:
            item = QListWidgetItem(f"{p.name} · {p.role.value}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            item.setToolTip(f"{redact(p.url)}\nrole: {p.role} ({p.role.summary})" + (f"\n{p.note}" if p.note else ""))
            self.profile_list.addItem(item)
        self.profile_title.setVisible(bool(found))
        self.profile_list.setVisible(bool(found))
        self.profile_list.setMaximumHeight(max(60, min(len(found), 6) * 24 + 8))

    def use_profile(self, profile: Profile) -> None:
        """Fill the form from a profile: its URL (asking for a password where one is needed) and role."""
        self.use_recent(profile.url)
        self.role_chooser.set_role(profile.role)

    def role(self) -> Role:
        return self.role_chooser.role()

    def _update_ceiling(self) -> None:
        url = self.connection_url()
        try:
            cap = ceiling(url, book=self.profiles) if url else Ceiling(None)
        except ProfileError as e:  # fail closed: an unreadable ceiling is the lowest one
            cap = Ceiling(Role.VIEWER, "(unreadable profiles file)")
            self._set_status(str(e), error=True)
        self.role_chooser.set_ceiling(cap, cap.role if cap.role is not None else DEFAULT_ROLE)

    # -- recent connections --------------------------------------------------------------
    def recent(self) -> list[str]:
        return self.recents.urls()

    def load_recent(self) -> None:
        self.recent_list.clear()
        for url in self.recent():
            item = QListWidgetItem(display_url(url))
            item.setData(Qt.ItemDataRole.UserRole, url)
            item.setToolTip(url)
            self.recent_list.addItem(item)

    def remember(self, url: str) -> None:
        """Put ``url`` first in the recent list, without its password."""
        self.recents.remember(url)
        self.load_recent()

    def _recent_chosen(self, item: QListWidgetItem) -> None:
        self.use_recent(item.data(Qt.ItemDataRole.UserRole))

    def _recent_activated(self, item: QListWidgetItem) -> None:
        self.use_recent(item.data(Qt.ItemDataRole.UserRole))
        if not self.password_edit.isVisible() or self.password_edit.text() or not self._needs_password:
            self.test_connection()

    def use_recent(self, url: str) -> None:
        """Fill the form from a remembered URL; one saved with a password asks for it again."""
        self._needs_password = False
        self.password_edit.setPlaceholderText(PASSWORD_HINT)
        recalled = recall(url)
        if not recalled.needs_password:
            self.url_edit.setText(recalled.text)
            return
        self._needs_password = True
        self._filling_recent = True
        try:
            self.url_edit.setText(recalled.text)
        finally:
            self._filling_recent = False
        self.password_edit.clear()
        self.password_edit.setPlaceholderText("required: enter the password again (it is never saved)")
        self.password_edit.setFocus()
        self._set_status("This connection needs its password; passwords are never saved.")

    # -- the form ------------------------------------------------------------------------
    _needs_password = False
    _filling_recent = False

    def connection_url(self) -> str:
        """The URL to connect with: the field (a SQLite path is turned into a URL) plus the password."""
        text = self.url_edit.text().strip()
        if not text:
            return ""
        url = normalize_url(text)
        pw = self.password_edit.text()
        if pw and is_server_url(url):
            try:
                url = make_url(url).set(password=pw).render_as_string(hide_password=False)
            except ArgumentError:
                pass
        return url

    def _url_changed(self, *_args: Any) -> None:
        if self.sender() is self.url_edit and not self._filling_recent:
            self._needs_password = False
            self.password_edit.setPlaceholderText(PASSWORD_HINT)
        server = is_server_url(self.url_edit.text())
        self.password_label.setVisible(server)
        self.password_edit.setVisible(server)
        if self._tested_url is not None and self.connection_url() != self._tested_url:
            self._forget_probe()
            self._set_status("")
        self._update_ceiling()
        self._update_buttons()

    def _browse(self) -> None:
        start = self.url_edit.text().strip()
        start_dir = str(Path(start).expanduser().parent) if start and "://" not in start else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a SQLite event store", start_dir, SQLITE_FILTER)
        if path:
            self.url_edit.setText(path)
            self.test_connection()

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #c0392b;" if error else "")
        self.status_label.setText(text)

    def _update_buttons(self) -> None:
        has_url = bool(self.url_edit.text().strip())
        busy = self._task is not None
        self.test_button.setEnabled(has_url and not busy)
        tested = self.probe is not None
        self.edit_mapping_button.setEnabled(tested and bool(self.probe.schema.tables))
        self.load_mapping_button.setEnabled(tested)
        self.open_button.setEnabled(has_url and not busy and (not tested or self.selected_candidate() is not None))

    # -- testing -------------------------------------------------------------------------
    def test_connection(self) -> None:
        """Connect and detect on a worker; ``sig_tested`` reports the outcome."""
        url = self.connection_url()
        if not url:
            self._set_status("Enter a database URL or choose a SQLite file.", error=True)
            return
        self._abandon()
        self._forget_probe()
        self._token += 1
        token = self._token
        abandoned = self._abandoned = threading.Event()
        self._set_status(f"Connecting to {redact(url)}…")
        self._task = self._runner.submit(
            probe, url, self.pm.layout_definitions(), abandoned, label="connect", owner=self,
            on_finished=lambda p: self._tested(token, url, p),
            on_error=lambda e: self._test_failed(token, url, e),
        )
        self._update_buttons()

    def _tested(self, token: int, url: str, p: Probe) -> None:
        if token != self._token:
            p.engine.dispose()
            return
        self._task = None
        self.probe, self._tested_url = p, url
        det = p.detection
        self._fill_candidates()
        where = display_url(redact(url))
        tables = f"{len(det.tables)} table{'s' if len(det.tables) != 1 else ''}"
        if det.candidates:
            self._set_status(f"Connected to {where} ({tables}). Detected: {det.candidates[0].layout.title}.")
        elif det.proposals:
            self._set_status(f"Connected to {where} ({tables}). No known event-store layout; table "
                             f"{det.proposals[0].layout.table} looks event-like: check the proposed mapping.")
        elif det.tables:
            self._set_status(f"Connected to {where} ({tables}), but no table looks like an event table. "
                             "Use “Edit mapping…” to say where the events are.", error=True)
        else:
            self._set_status(f"Connected to {where}: the database has no tables, nothing to inspect.", error=True)
        self._update_buttons()
        self.sig_tested.emit(True)
        if not det.candidates and det.proposals:
            self.open_mapping_editor()
        elif self._open_after_test and self.selected_candidate() is not None:
            self.accept()
        self._open_after_test = False

    def _test_failed(self, token: int, url: str, exc: BaseException) -> None:
        if token != self._token or isinstance(exc, Cancelled):
            return
        self._task = None
        self._open_after_test = False
        msg = str(exc) if isinstance(exc, InspectorError) else describe_error(exc, url)
        self._set_status(msg, error=True)
        self._update_buttons()
        self.sig_tested.emit(False)

    def _abandon(self) -> None:
        """Let an in-flight test go: its engine is disposed when it returns."""
        self._abandoned.set()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _forget_probe(self) -> None:
        if self.probe is not None and (self._result is None or self._result.store.engine is not self.probe.engine):
            self.probe.engine.dispose()
        self.probe, self._tested_url, self.mapping = None, None, None
        self.candidate_list.clear()

    # -- candidates ----------------------------------------------------------------------
    def _fill_candidates(self) -> None:
        self.candidate_list.clear()
        if self.probe is None:
            return
        det = self.probe.detection
        cands: list[LayoutCandidate] = list(det.candidates) + list(det.proposals)
        if self.mapping is not None:
            cands.insert(0, LayoutCandidate(self.mapping, 1.0, ("your mapping",), "mapping"))
        self.candidate_list.show_candidates(cands)
        self._update_buttons()

    def candidates_shown(self) -> list[LayoutCandidate]:
        return self.candidate_list.candidates()

    def selected_candidate(self) -> LayoutCandidate | None:
        return self.candidate_list.selected_candidate()

    def select_layout(self, name: str) -> None:
        """Choose the candidate whose layout is ``name`` (an override of the best guess)."""
        self.candidate_list.select_layout(name)

    # -- mappings ------------------------------------------------------------------------
    def open_mapping_editor(self, initial: Layout | LayoutCandidate | None = None) -> MappingEditor | None:
        """Open the mapping editor (window-modal, not blocking) on the tested database."""
        if self.probe is None:
            return None
        det = self.probe.detection
        if initial is None:
            initial = self.selected_candidate() or (det.proposals[0] if det.proposals else None)
        # the preview reads events like the session will: masked for a viewer
        editor = MappingEditor(self.probe.engine, self.probe.schema, self.pm.codecs(), self, initial=initial,
                               proposals=det.proposals, url=redact(self._tested_url or ""), runner=self._runner,
                               role=self.role(), masking_rules=self.pm.masking_rules())
        editor.accepted.connect(lambda: self.use_mapping(editor.result_layout()))
        self.mapping_editor = editor
        editor.open()
        self.sig_mapping_editor_opened.emit(editor)
        return editor

    def use_mapping(self, layout: Layout | None) -> None:
        """Use ``layout`` (from the editor or a file) for this database: it is listed first and chosen."""
        if layout is None or self.probe is None:
            return
        try:
            self.mapping = validate_layout(layout, self.probe.schema)
        except InspectorError as e:
            self._set_status(str(e), error=True)
            return
        self._fill_candidates()
        self._set_status(f"Using your mapping for table {self.mapping.table}.")

    def load_mapping_file(self, path: str | Path) -> None:
        try:
            self.use_mapping(load_mapping(path))
        except InspectorError as e:
            self._set_status(str(e), error=True)

    def _load_mapping_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a mapping file", "", "Mapping files (*.toml);;All files (*)")
        if path:
            self.load_mapping_file(path)

    # -- results -------------------------------------------------------------------------
    def accept(self) -> None:
        url = self.connection_url()
        if not url:
            self._set_status("Enter a database URL or choose a SQLite file.", error=True)
            return
        if self.probe is None or self._tested_url != url:
            self._open_after_test = True  # Open without a test: test first, then open
            self.test_connection()
            return
        cand = self.selected_candidate()
        if cand is None:
            self._set_status("Choose a layout, or edit a mapping, first.", error=True)
            return
        name = redact(url)
        codecs = CodecPipeline(self.pm.codecs())
        try:
            resolve_role(self.role(), url, book=self.profiles)  # the ceiling again: the profiles file may have changed
            layout = cand.layout if cand.source == "known" else validate_layout(cand.layout, self.probe.schema)
            store = RoleStore(self.probe.engine, layout, codecs, name, self.role(), self.pm.masking_rules())
        except InspectorError as e:
            self._set_status(str(e), error=True)
            return
        if cand.source == "known":
            self._spec = (url, layout.name, None)
            chosen = cand
        else:
            self._spec = (url, None, layout)
            chosen = LayoutCandidate(layout, cand.confidence, cand.reasons, "mapping")
        self._result = OpenedStore(store, chosen, self.probe.detection, name)
        self.remember(url)
        super().accept()

    def reject(self) -> None:
        self._abandon()
        self._forget_probe()
        super().reject()

    def result_store(self) -> OpenedStore | None:
        """The store opened on accept (read-only); the caller owns it and closes it."""
        return self._result

    def result_spec(self) -> tuple[str, str | None, Layout | None] | None:
        """(url, layout name or None, mapping Layout or None): enough for ``open_store`` to open the
        same store again. The URL includes the password if one was given: never store it, use
        ``redact``."""
        return self._spec
