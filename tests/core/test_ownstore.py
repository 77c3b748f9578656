"""The inspector's own layout: schema creation and the append round trip on every backend."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from inspector.core import ownstore
from inspector.core.ownstore import NewCommand, NewEvent

UTC = dt.timezone.utc
PG_URL = os.environ.get("INSPECTOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("INSPECTOR_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _reachable(url: str) -> str | None:
    """None when a server answers at ``url``, else the reason to skip."""
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return None
    except Exception as e:  # any driver error means "not here"
        return f"{url.split('@')[-1]} unreachable: {type(e).__name__}: {str(e).splitlines()[0][:120]}"


def _sqlite(tmp_path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'own.sqlite'}")
    yield engine
    engine.dispose()


def _postgres() -> Iterator[sa.Engine]:
    reason = _reachable(PG_URL)
    if reason:
        pytest.skip(reason)
    schema = f"inspector_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = admin.execution_options(schema_translate_map={None: schema})
    try:
        yield engine
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _mariadb() -> Iterator[sa.Engine]:
    reason = _reachable(MYSQL_URL)
    if reason:
        pytest.skip(reason)
    database = f"inspector_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MYSQL_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    engine = sa.create_engine(sa.make_url(MYSQL_URL).set(database=database))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE `{database}`")
        admin.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def engine(request, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    elif request.param == "postgresql":
        yield from _postgres()
    else:
        yield from _mariadb()


def _events() -> list[NewEvent]:
    t0 = dt.datetime(2026, 10, 20, 9, 12, 0, 123456, tzinfo=UTC)
    cmd, corr = str(uuid.UUID(int=1, version=4)), str(uuid.UUID(int=2, version=4))
    first = str(uuid.UUID(int=3, version=4))
    return [
        NewEvent(
            event_id=first,
            stream="order-100001",
            version=1,
            type="OrderPlaced",
            recorded_at=t0,
            data={"order_id": "100001", "lines": [{"sku": "KIT0001", "qty": 2, "unit_price": 4.99}], "note": "Grüße ✓"},
            metadata={"command_id": cmd, "actor": "customer:1001", "schema_version": 1},
            causation_id=cmd,
            correlation_id=corr,
            actor="customer:1001",
        ),
        NewEvent(
            event_id=str(uuid.UUID(int=4, version=4)),
            stream="inventory-KIT0001",
            version=1,
            type="StockReserved",
            # a different zone on input: stored and returned as the same instant in UTC
            recorded_at=(t0 + dt.timedelta(seconds=1)).astimezone(dt.timezone(dt.timedelta(hours=2))),
            data={"sku": "KIT0001", "qty": 2},
            metadata=None,
            causation_id=first,
            correlation_id=corr,
            actor="agent:inventory-bot",
        ),
        NewEvent(
            event_id=str(uuid.UUID(int=5, version=4)),
            stream="order-100001",
            version=2,
            type="OrderFlagged",
            recorded_at=t0 + dt.timedelta(seconds=2),
            data={"order_id": "100001", "rule": "price_below_cost"},
        ),
    ]


def test_schema_and_round_trip(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.create_schema(conn)  # idempotent
        assert ownstore.append_events(conn, iter(_events())) == 3
        cmd = NewCommand(
            command_id=str(uuid.UUID(int=1, version=4)),
            type="PlaceOrder",
            actor="customer:1001",
            issued_at=dt.datetime(2026, 10, 20, 9, 11, 59, 900000, tzinfo=UTC),
            payload={"customer_id": "1001", "lines": [{"sku": "KIT0001", "qty": 2}]},
            correlation_id=str(uuid.UUID(int=2, version=4)),
            reason="checkout",
        )
        assert ownstore.append_commands(conn, [cmd]) == 1
        ownstore.write_store_info(conn, {"layout": ownstore.LAYOUT, "schema_version": 1})
        ownstore.write_store_info(conn, {"schema_version": ownstore.SCHEMA_VERSION})

    ev = ownstore.events_table
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ev).order_by(ev.c.position)).mappings().all()
        commands = conn.execute(sa.select(ownstore.commands_table)).mappings().all()
        info = ownstore.read_store_info(conn)

    expected = _events()
    assert [r["event_id"] for r in rows] == [e.event_id for e in expected]
    positions = [r["position"] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == 3
    for row, e in zip(rows, expected):
        assert row["recorded_at"] == e.recorded_at
        assert row["recorded_at"].utcoffset() == dt.timedelta(0)
        assert row["data"] == e.data
        assert row["metadata"] == e.metadata
        assert (row["stream"], row["version"], row["type"]) == (e.stream, e.version, e.type)
        assert (row["causation_id"], row["correlation_id"], row["actor"]) == (e.causation_id, e.correlation_id, e.actor)
    assert len(commands) == 1 and commands[0]["issued_at"] == cmd.issued_at
    assert commands[0]["payload"] == cmd.payload and commands[0]["reason"] == "checkout"
    assert info == {"layout": "inspector", "schema_version": "1"}


def test_uniqueness_is_enforced(engine: sa.Engine) -> None:
    events = _events()
    with engine.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.append_events(conn, events[:1])
    dup_version = NewEvent(**{**_as_dict(events[1]), "stream": "order-100001", "version": 1})
    dup_id = NewEvent(**{**_as_dict(events[1]), "event_id": events[0].event_id})
    for bad in (dup_version, dup_id):
        with pytest.raises(sa.exc.IntegrityError):
            with engine.begin() as conn:
                ownstore.append_events(conn, [bad])


def test_bulk_load_then_indexes(engine: sa.Engine) -> None:
    """Bare tables first, indexes once at the end, as the demo builder and forks do."""
    with engine.begin() as conn:
        schema = conn.schema_for_object(ownstore.events_table)  # reflection ignores the translate map
        ownstore.create_schema(conn, indexes=False)
        assert not sa.inspect(conn).get_indexes(ownstore.EVENTS_TABLE, schema=schema)
        ownstore.append_events(conn, _events())
        ownstore.create_indexes(conn)
        ownstore.create_indexes(conn)  # idempotent
        names = {ix["name"] for ix in sa.inspect(conn).get_indexes(ownstore.EVENTS_TABLE, schema=schema)}
    assert {ix.name for ix in ownstore.events_table.indexes} <= names


def test_sqlite_times_are_fixed_width_text(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'own.sqlite'}")
    with engine.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.append_events(conn, _events())
        raw = [r[0] for r in conn.exec_driver_sql("SELECT recorded_at FROM inspector_events ORDER BY position")]
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'inspector_events'").scalar()
        days = conn.exec_driver_sql("SELECT julianday(recorded_at) FROM inspector_events").scalars().all()
    engine.dispose()
    assert raw[0] == "2026-10-20T09:12:00.123456Z"
    assert raw[1] == "2026-10-20T09:12:01.123456Z"
    assert all(len(r) == 27 for r in raw) and raw == sorted(raw)
    assert all(d is not None for d in days)
    assert "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" in ddl


def test_format_time() -> None:
    t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert ownstore.format_time(t, "sqlite") == "2026-01-02T02:04:05.000000Z"
    assert ownstore.format_time(t, "mysql") == dt.datetime(2026, 1, 2, 2, 4, 5)
    assert ownstore.format_time(t, "postgresql") == t and ownstore.format_time(t, "postgresql").tzinfo == UTC
    with pytest.raises(ValueError):
        ownstore.format_time(dt.datetime(2026, 1, 2), "sqlite")
    assert ownstore.parse_time("2026-01-02T02:04:05.000000Z") == t
    assert ownstore.encode_json({"a": [1, 2.5], "b": "ü"}) == '{"a":[1,2.5],"b":"ü"}'


def _as_dict(e: NewEvent) -> dict:
    return {f: getattr(e, f) for f in NewEvent.__dataclass_fields__}
