"""The Plugins dialog: every plugin found (entry point, checkout folder, ``--plugin``), the hooks it
implements, and for a disabled one the error that disabled it; plus the compensating commands the
loaded plugins register. The same facts as ``inspector plugins``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from .tables import style_table

_BAD = QColor("#b3261e")


def disabled_summary(plugin_manager) -> str | None:
    """One line for the status bar when a plugin is disabled, else None."""
    bad = [p for p in plugin_manager.status() if not p.ok]
    if not bad:
        return None
    names = ", ".join(p.name for p in bad)
    return f"{len(bad)} plugin(s) disabled ({names}): see Help ▸ Plugins… for the error"


class PluginsDialog(QDialog):
    def __init__(self, plugin_manager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pluginsDialog")
        self.setWindowTitle("Plugins")
        self.resize(900, 460)
        status = plugin_manager.status()
        layout = QVBoxLayout(self)
        bad = sum(not p.ok for p in status)
        head = QLabel(f"{len(status)} plugin(s) found, {bad} disabled. A plugin that fails to import or raises in a "
                      "hook is disabled and the rest of the inspector goes on.")
        head.setWordWrap(True)
        layout.addWidget(head)

        self.table = QTableWidget(len(status), 5, self)
        self.table.setObjectName("pluginsTable")
        self.table.setHorizontalHeaderLabels(["Plugin", "Status", "Found through", "Module", "Hooks / error"])
        for row, p in enumerate(status):
            cells = [p.name, "ok" if p.ok else "disabled", p.source, p.module,
                     ", ".join(p.hooks) if p.ok else p.error or ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                item.setToolTip(text)
                if not p.ok:
                    item.setForeground(_BAD)
                self.table.setItem(row, col, item)
        style_table(self.table)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 2)

        commands = list(plugin_manager.commands().values()) if status else []
        layout.addWidget(QLabel(f"Compensating commands ({len(commands)}):"))
        self.commands = QTableWidget(len(commands), 3, self)
        self.commands.setObjectName("commandsTable")
        self.commands.setHorizontalHeaderLabels(["Command", "Fields", "Description"])
        for row, c in enumerate(commands):
            fields = ", ".join(f"{f.name}: {f.type}" + ("" if f.required else "?") for f in c.fields)
            for col, text in enumerate((c.name, fields, c.description or c.title)):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                item.setToolTip(text)
                self.commands.setItem(row, col, item)
        style_table(self.commands)
        self.commands.resizeColumnsToContents()
        self.commands.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.commands, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
