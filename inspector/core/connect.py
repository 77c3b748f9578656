"""Opening databases: URL forms people type, read-only browsing sessions enforced by the database,
and database errors turned into one line a user can act on."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from .errors import ConnectError

CONNECT_TIMEOUT_S = 5


def normalize_url(url: str) -> str:
    """Accept a SQLite file path, or URLs without a driver, and return a SQLAlchemy URL."""
    url = url.strip()
    if "://" not in url:
        p = Path(url).expanduser()
        return f"sqlite:///{p.resolve()}"
    scheme, rest = url.split("://", 1)
    scheme_l = scheme.lower()
    if scheme_l in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg"
    elif scheme_l in ("mysql", "mariadb", "mariadb+pymysql"):
        scheme = "mysql+pymysql"
    return f"{scheme}://{rest}"


def redact(url: str) -> str:
    """The URL as it may be shown or stored: never with its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _where(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} at {host}{port}/{url.database or ''}"


def describe_error(exc: BaseException, url: str | sa.URL | None = None) -> str:
    """One line for a database error, with no traceback and no password."""
    where = ""
    if url is not None:
        try:
            where = _where(make_url(str(url)) if not isinstance(url, sa.URL) else url)
        except ArgumentError:
            where = redact(str(url))
    orig = getattr(exc, "orig", None) or exc
    msg = " ".join(str(orig).split())
    low = msg.lower()
    if "password authentication failed" in low or "access denied" in low or "authentication failed" in low:
        return f"login refused by {where}: wrong user name or password"
    if "connection refused" in low or "can't connect" in low or "could not connect" in low or "timeout" in low or "timed out" in low or "name or service not known" in low or "could not translate host" in low or "nodename nor servname" in low:
        reason = msg.split(":")[-1].strip().rstrip(".") or msg
        reason = reason.split(" Is the server")[0]  # libpq appends a second sentence
        return f"cannot reach {where}: {reason}"
    if any(w in low for w in ("terminating connection", "server closed the connection", "lost connection",
                                "gone away", "connection already closed", "consuming input failed")):
        return f"lost the connection to {where}: {msg}" if where else f"lost the database connection: {msg}"
    if ("database" in low and "does not exist" in low) or "unknown database" in low:
        return f"{where}: database does not exist"
    if "unable to open database file" in low:
        return f"cannot open SQLite file {where}: no such file or no permission"
    if "file is not a database" in low:
        return f"{where} is not a SQLite database"
    if "read-only" in low or "readonly" in low or "read only" in low:
        return f"refused by {where}: this session is read-only ({msg})"
    return f"{where}: {msg}" if where else msg


def _install_read_only(engine: Engine) -> None:
    backend = engine.url.get_backend_name()

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
        cur = dbapi_conn.cursor()
        try:
            if backend == "postgresql":
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            elif backend in ("mysql", "mariadb"):
                cur.execute("SET SESSION TRANSACTION READ ONLY")
            elif backend == "sqlite":
                cur.execute("PRAGMA query_only = ON")
        finally:
            cur.close()
        if backend == "postgresql":
            dbapi_conn.commit()


def _fast_jsonb(engine: Engine) -> None:
    """psycopg parses json/jsonb columns with the standard library's parser; ours (orjson, with the
    standard parser as fallback) is several times faster, and pages of jsonb events are bound by it."""
    from psycopg.types.json import set_json_loads

    from .codecs import load_json

    @sa.event.listens_for(engine, "connect")
    def _loads(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
        set_json_loads(load_json, dbapi_conn)


def create_engine(url: str, read_only: bool = True, check: bool = True) -> Engine:
    """An Engine for ``url``. Browsing engines are read-only at the database: SQLite opens the
    file with ``mode=ro``; PostgreSQL and MariaDB sessions are ``READ ONLY`` transactions."""
    url = normalize_url(url)
    try:
        u = make_url(url)
    except ArgumentError as e:
        raise ConnectError(f"not a database URL: {redact(url)} ({e})")
    backend = u.get_backend_name()
    kwargs: dict = {"pool_pre_ping": True}
    if backend == "sqlite":
        db = u.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db)
            if not path.exists():
                raise ConnectError(f"no such SQLite file: {path}")
            if read_only:
                u = u.set(database=f"file:{path.resolve().as_posix()}?mode=ro", query={"uri": "true"})
    elif backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    elif backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, "charset": "utf8mb4"}
    try:
        engine = sa.create_engine(u, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as e:
        raise ConnectError(f"no driver for {redact(url)}: {e}")
    if read_only:
        _install_read_only(engine)
    if backend == "postgresql" and engine.dialect.driver == "psycopg":
        _fast_jsonb(engine)
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except (DBAPIError, SQLAlchemyError) as e:
            engine.dispose()
            raise ConnectError(describe_error(e, u))
    return engine
