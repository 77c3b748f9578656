"""Shared test fixtures: fresh databases per test on SQLite, PostgreSQL and MariaDB.

Server URLs come from INSPECTOR_TEST_PG_URL and INSPECTOR_TEST_MYSQL_URL (defaults: this machine's
local servers). Without a reachable server the tests skip with the reason; with
INSPECTOR_REQUIRE_DBS=1 (set by .ci/run) such a skip becomes a failure."""

from __future__ import annotations

import os
import uuid

# GUI tests render offscreen everywhere (CI has no display); set before Qt is imported.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("INSPECTOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("INSPECTOR_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE_DBS = os.environ.get("INSPECTOR_REQUIRE_DBS") == "1"
BACKENDS = ("sqlite", "postgresql", "mysql")


def unavailable(reason: str) -> None:
    if REQUIRE_DBS:
        pytest.fail(f"{reason} (INSPECTOR_REQUIRE_DBS=1 turns this skip into a failure)")
    pytest.skip(reason)


_reachable: dict[str, str | None] = {}


def _check(url: str) -> str | None:
    if url not in _reachable:
        try:
            eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
            with eng.connect() as c:
                c.execute(sa.text("SELECT 1"))
            eng.dispose()
            _reachable[url] = None
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable here"
            _reachable[url] = " ".join(str(getattr(e, "orig", e)).split())[:200]
    return _reachable[url]


def new_database(backend: str, tmp_path: Path) -> tuple[str, callable]:
    """A URL to a new empty database, and a function that drops it."""
    name = "insp_" + uuid.uuid4().hex[:12]
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.sqlite')}", lambda: None
    server = PG_URL if backend == "postgresql" else MYSQL_URL
    err = _check(server)
    if err:
        unavailable(f"{backend} not reachable at {make_url(server).render_as_string(hide_password=True)}: {err}")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as c:
            if backend == "postgresql":
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()

    return url, drop


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, tmp_path):
    """A fresh empty database on the parametrised backend (sqlite, postgresql, mysql)."""
    url, drop = new_database(backend, tmp_path)
    yield url
    drop()


@pytest.fixture
def pg_url(tmp_path):
    url, drop = new_database("postgresql", tmp_path)
    yield url
    drop()


@pytest.fixture
def mysql_url(tmp_path):
    url, drop = new_database("mysql", tmp_path)
    yield url
    drop()


@pytest.fixture
def sqlite_url(tmp_path):
    return new_database("sqlite", tmp_path)[0]


@pytest.fixture(scope="session")
def plugin_manager():
    from inspector.plugins.manager import PluginManager

    return PluginManager()


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory, monkeypatch) -> Path:
    """Every test keeps the inspector's own data (checkpoints, profiles, the operator log, saved
    investigations) in a folder of its own, never in the user's data directory; the folder."""
    d = tmp_path_factory.mktemp("inspector-data")
    monkeypatch.setenv("INSPECTOR_DATA_DIR", str(d))
    return d
