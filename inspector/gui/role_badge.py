"""The session's role, always in sight: a coloured badge in the menu bar's corner (the menu bar
cannot be hidden, unlike the toolbars and the status bar) and a word in the window title.

Colours go from calm to alarming with what the role can do: a viewer sees masked data (green),
an auditor sees personal data (amber), an operator can write (red)."""

from __future__ import annotations

from typing import Any, Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from inspector.core.roles import MASK, Role

COLOURS = {Role.VIEWER: "#2e7d32", Role.AUDITOR: "#b26a00", Role.OPERATOR: "#c62828"}


def title_suffix(role: Role) -> str:
    return f"[{role.value}{' · personal data masked' if not role.sees_personal_data else ''}]"


class RoleBadge(QLabel):
    """``VIEWER`` / ``AUDITOR`` / ``OPERATOR`` on the role's colour; the tooltip says what the role
    may do and, for a viewer, which fields the masking rules hide."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("roleBadge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.role: Role | None = None
        self.set_role(None)

    def set_role(self, role: Role | None, rules: Iterable[Any] = ()) -> None:
        self.role = role
        if role is None:
            self.setText("")
            self.setVisible(False)
            return
        self.setVisible(True)
        masked = "" if role.sees_personal_data else f"  {MASK}"
        self.setText(f" {role.value.upper()}{masked} ")
        self.setStyleSheet(f"QLabel#roleBadge {{ background: {COLOURS[role]}; color: white; font-weight: bold; "
                           "border-radius: 3px; padding: 1px 8px; margin: 2px 6px; }")
        tip = [f"Role: {role.value} ({role.summary})"]
        if not role.sees_personal_data:
            described = [r.describe() for r in rules]
            tip.append(f"Personal data shows as {MASK}; payload text search is off; raw payloads are withheld.")
            if described:
                tip.append("Masked fields:")
                tip += [f"  • {d}" for d in described[:20]]
                if len(described) > 20:
                    tip.append(f"  … and {len(described) - 20} more rules")
        self.setToolTip("\n".join(tip))
