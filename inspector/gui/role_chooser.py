"""Choosing the role of a connection in the connect dialog: viewer, auditor or operator, capped by
the connection's profiles (``core.profiles``). Until the user picks one, the role follows the
URL: its profile's role, else the default (viewer)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from inspector.core.profiles import Ceiling
from inspector.core.roles import DEFAULT_ROLE, Role


class RoleChooser(QWidget):
    sig_role_changed = Signal(object)  # Role

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("roleChooser")
        self.combo = QComboBox(objectName="roleCombo")
        for role in Role:
            self.combo.addItem(role.value.capitalize(), role.value)
        self.hint = QLabel(objectName="roleHint")
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo)
        row.addWidget(self.hint, 1)
        self.ceiling = Ceiling(None)
        self._chosen = False  # the user picked a role: keep it (within the ceiling) when the URL changes
        self._setting = False
        self.combo.currentIndexChanged.connect(self._picked)
        self._set(DEFAULT_ROLE)

    def role(self) -> Role:
        return Role(self.combo.currentData())

    def set_role(self, role: Role | str) -> None:
        """Choose ``role`` as the user would (lowered to the ceiling)."""
        self._chosen = True
        self._set(Role.parse(role))

    def set_ceiling(self, ceiling: Ceiling, default: Role) -> None:
        """The connection changed: cap the roles at ``ceiling``; without a choice, take ``default``."""
        self.ceiling = ceiling
        model = self.combo.model()
        if isinstance(model, QStandardItemModel):
            for i in range(self.combo.count()):
                model.item(i).setEnabled(ceiling.allows(Role(self.combo.itemData(i))))
        self._set(self.role() if self._chosen else default)

    def _set(self, role: Role) -> None:
        if not self.ceiling.allows(role):
            role = self.ceiling.role
        self._setting = True
        try:
            self.combo.setCurrentIndex(self.combo.findData(role.value))
        finally:
            self._setting = False
        self._explain()
        self.sig_role_changed.emit(role)

    def _picked(self, _index: int) -> None:
        if self._setting:
            return
        self._chosen = True
        self._explain()
        self.sig_role_changed.emit(self.role())

    def _explain(self) -> None:
        role = self.role()
        text = role.summary
        if self.ceiling.role is not None:
            text += f" · profile {self.ceiling.profile} allows at most {self.ceiling.role}"
        self.hint.setText(text)
