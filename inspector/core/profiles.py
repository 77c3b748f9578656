"""Connection profiles: named stores with the role they are opened for, kept in the inspector's
data directory (``profiles.json``), never with a password.

A profile's role is a ceiling: a session may ask for a lower role, never a higher one. The ceiling
holds for the profile's URL however it is reached, by ``--profile NAME`` or by typing the URL, so
"this database is for viewers here" cannot be undone by a forgotten flag. A URL no profile names
has no ceiling, and its default role is ``roles.DEFAULT_ROLE`` (viewer)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .connect import normalize_url
from .errors import InspectorError
from .roles import DEFAULT_ROLE, Role, RoleError
from .store_files import write_json

FORMAT = "inspector-profiles/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ProfileError(InspectorError):
    """A profile is missing, badly named, or the profiles file cannot be read."""


def profile_url(url: str) -> str:
    """``url`` as profiles keep and compare it: normalised (a SQLite path made absolute, the
    driver filled in) and without its password."""
    norm = normalize_url(url)
    try:
        u = make_url(norm)
    except ArgumentError as e:
        raise ProfileError(f"not a database URL: {url!r} ({e})") from None
    if u.password is None:
        return norm
    return URL.create(u.drivername, u.username, None, u.host, u.port, u.database, u.query).render_as_string(
        hide_password=False)


def has_password(url: str) -> bool:
    try:
        return make_url(normalize_url(url)).password is not None
    except ArgumentError:
        return False


@dataclass(frozen=True)
class Profile:
    name: str
    url: str  # as ``profile_url`` gives it: no password
    role: Role
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "role": self.role.value, "note": self.note}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Profile":
        return cls(str(d["name"]), str(d["url"]), Role.parse(d["role"]), str(d.get("note") or ""))


def default_path() -> Path:
    from .checkpoints import data_dir

    return data_dir() / "profiles.json"


class ProfileBook:
    """The profiles in one file (``default_path()`` unless given). Reads the file on every call,
    so a profile added by another process is seen; writes it whole, atomically."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()

    def list(self) -> list[Profile]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as e:
            raise ProfileError(f"cannot read the profiles file {self.path}: {e.strerror or e}") from None
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, not {FORMAT!r}")
            return [Profile.from_json(p) for p in doc["profiles"]]
        except (ValueError, KeyError, TypeError, AttributeError, RoleError) as e:
            # fail closed: a ceiling that cannot be read must not silently become no ceiling
            raise ProfileError(f"the profiles file {self.path} is damaged ({e}); fix or remove it") from None

    def get(self, name: str) -> Profile:
        for p in self.list():
            if p.name == name:
                return p
        names = ", ".join(p.name for p in self.list()) or "none yet (inspector profile add NAME URL --role R)"
        raise ProfileError(f"no profile {name!r}; profiles: {names}")

    def add(self, name: str, url: str, role: Role | str, note: str = "", replace: bool = False) -> Profile:
        if not _NAME.match(name):
            raise ProfileError(f"bad profile name {name!r}: letters, digits, '.', '_' and '-', at most 64")
        profile = Profile(name, profile_url(url), Role.parse(role), note)
        profiles = self.list()
        if any(p.name == name for p in profiles) and not replace:
            raise ProfileError(f"a profile {name!r} exists already (--replace replaces it)")
        self._write([p for p in profiles if p.name != name] + [profile])
        return profile

    def remove(self, name: str) -> Profile:
        profile = self.get(name)
        self._write([p for p in self.list() if p.name != name])
        return profile

    def matching(self, url: str) -> list[Profile]:
        """The profiles of ``url`` (compared without passwords)."""
        try:
            key = profile_url(url)
        except ProfileError:
            return []
        return [p for p in self.list() if p.url == key]

    def _write(self, profiles: Iterable[Profile]) -> None:
        doc = {"format": FORMAT, "profiles": [p.to_json() for p in sorted(profiles, key=lambda p: p.name)]}
        write_json(self.path, doc, newline=True, tmp_prefix=".profiles-", tmp_suffix=".json", durable=False)


@dataclass(frozen=True)
class Ceiling:
    """The highest role a session may take, and the profile that sets it (None: no ceiling)."""

    role: Role | None
    profile: str | None = None

    def allows(self, role: Role) -> bool:
        return self.role is None or role.rank <= self.role.rank


def ceiling(url: str | None, profile: Profile | None = None, book: ProfileBook | None = None) -> Ceiling:
    """The lowest role among the profile given and every profile of ``url``."""
    found: list[Profile] = [profile] if profile is not None else []
    if url:
        found += (book or ProfileBook()).matching(url)
    if not found:
        return Ceiling(None)
    low = min(found, key=lambda p: p.role.rank)
    return Ceiling(low.role, low.name)


def resolve_role(requested: Role | str | None, url: str | None, profile: Profile | None = None,
                 book: ProfileBook | None = None) -> Role:
    """The role a session opens with: the one asked for, else the ceiling's, else ``DEFAULT_ROLE``.
    Raises ``RoleError`` when the one asked for exceeds the ceiling."""
    cap = ceiling(url, profile, book)
    if requested is None:
        return cap.role if cap.role is not None else DEFAULT_ROLE
    role = Role.parse(requested)
    if not cap.allows(role):
        raise RoleError(f"role {role} exceeds profile {cap.profile!r}, which allows at most {cap.role}: a "
                        f"profile's role is a ceiling (ask for {cap.role} or lower)")
    return role
