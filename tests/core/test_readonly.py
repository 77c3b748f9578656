"""Browsing sessions are read-only at the database: every way of writing through the Engine that
``open_store`` returns (a transaction, autocommit, the raw DB-API connection) fails, on every
backend, and the data is unchanged afterwards."""

from __future__ import annotations

from typing import Callable

import pytest
import sqlalchemy as sa

from inspector.core.session import open_store
from tests.conftest import BACKENDS, new_database
from tests.fixtures import Written, inspector

WRITES = {
    "insert": "INSERT INTO inspector_events (event_id, stream, version, type, recorded_at, data) "
    "SELECT event_id || 'x', stream, version + 100, type, recorded_at, data FROM inspector_events",
    "delete": "DELETE FROM inspector_events",
    "update": "UPDATE inspector_events SET type = 'Tampered'",
    "create": "CREATE TABLE tampered (x integer)",
    "drop": "DROP TABLE inspector_commands",
}


def _sql(statement: str, dialect: str) -> str:
    sql = WRITES[statement]
    return sql.replace("event_id || 'x'", "CONCAT(event_id, 'x')") if dialect == "mysql" else sql


def _through_transaction(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)


def _through_autocommit(engine: sa.Engine, sql: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(sql)


def _through_raw_connection(engine: sa.Engine, sql: str) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(sql)
        raw.commit()
    finally:
        raw.close()


PATHS: dict[str, Callable[[sa.Engine, str], None]] = {
    "transaction": _through_transaction,
    "autocommit": _through_autocommit,
    "raw": _through_raw_connection,
}


def snapshot(url: str) -> tuple:
    """Everything a write could change: the tables and every event row."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
            rows = conn.exec_driver_sql(
                "SELECT position, event_id, stream, version, type FROM inspector_events ORDER BY position"
            ).all()
        return tables, [tuple(r) for r in rows]
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def written(request, tmp_path_factory) -> Written:
    """One store per backend for the whole module: every test checks that it stayed unchanged."""
    url, drop = new_database(request.param, tmp_path_factory.mktemp("readonly"))
    try:
        yield inspector.create(url, events=12)
    finally:
        drop()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("statement", WRITES)
def test_a_browsing_session_cannot_write(written, plugin_manager, statement, path):
    before = snapshot(written.url)
    opened = open_store(written.url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    engine = opened.store.engine
    try:
        errors = (sa.exc.DBAPIError, engine.dialect.loaded_dbapi.Error)  # raw: the driver's own error
        with pytest.raises(errors) as info:
            PATHS[path](engine, _sql(statement, engine.dialect.name))
        assert "read" in str(info.value).lower() and "only" in str(info.value).lower()
        assert opened.store.count() == 12  # the session is still usable for reading
    finally:
        opened.store.close()
    assert snapshot(written.url) == before


def test_a_pooled_connection_stays_read_only(written, plugin_manager):
    """The read-only setting belongs to each pooled connection, not to its first transaction."""
    opened = open_store(written.url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    engine = opened.store.engine
    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                conn.rollback()
            with pytest.raises(sa.exc.DBAPIError):
                _through_transaction(engine, _sql("delete", engine.dialect.name))
    finally:
        opened.store.close()
    assert len(snapshot(written.url)[1]) == 12
