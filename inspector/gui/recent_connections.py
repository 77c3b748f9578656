"""Recent connections: the list the connect dialog offers, kept in QSettings newest first, never
with a password; and how a remembered URL goes back into the form (asking for a password again
when one was given)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from inspector.core.connect import normalize_url, redact

RECENT_KEY = "connections/recent"
MAX_RECENT = 12
HIDDEN_PASSWORD = "***"  # what redact() writes in place of a password


class RecentConnections:
    """The remembered URLs in ``settings`` (the app's own by default), redacted, newest first."""

    def __init__(self, settings: QSettings | None = None):
        self.settings = settings if settings is not None else QSettings("inspector", "inspector")

    def urls(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # INI files give one value back as a plain string
            value = [value] if value else []
        return [str(v) for v in value or []]

    def remember(self, url: str) -> None:
        """Put ``url`` first, without its password."""
        safe = redact(normalize_url(url))
        urls = [safe] + [u for u in self.urls() if u != safe]
        self.settings.setValue(RECENT_KEY, urls[:MAX_RECENT])
        self.settings.sync()


@dataclass(frozen=True)
class Recalled:
    """A remembered URL as the form takes it back."""

    text: str  # for the database field: a SQLite file's path, else the URL (without "***")
    needs_password: bool  # it was saved with a password, which has to be typed again


def recall(url: str) -> Recalled:
    """What the form shows for a remembered (redacted) ``url``."""
    try:
        u = make_url(url)
    except ArgumentError:
        return Recalled(url, False)
    if u.password is not None and str(u.password) == HIDDEN_PASSWORD:
        return Recalled(without_password(url), True)
    return Recalled(u.database if u.get_backend_name() == "sqlite" else url, False)


def without_password(url: str) -> str:
    """``url`` with no password at all (``URL.set(password=None)`` leaves it as it is)."""
    u = make_url(url)
    return URL.create(u.drivername, u.username, None, u.host, u.port, u.database, u.query).render_as_string(
        hide_password=False)


def display_url(url: str) -> str:
    """A stored (redacted) URL as the recent list shows it: SQLite files by their path, servers as
    ``user@host:port/db (backend)``."""
    try:
        u = make_url(url)
    except ArgumentError:
        return url
    if u.get_backend_name() == "sqlite":
        return u.database or url
    user = f"{u.username}@" if u.username else ""
    port = f":{u.port}" if u.port else ""
    return f"{user}{u.host or 'localhost'}{port}/{u.database or ''} ({u.get_backend_name()})"
