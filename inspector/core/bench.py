"""``inspector bench``: the read-path figures the issues name, measured on one store in one run.

Each figure is the median of several timed repetitions after a warm-up; raw figures use a plain
DB-API cursor on the same database, so ratios show the inspector's own overhead."""

from __future__ import annotations

import datetime as dt
import platform
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from .. import __version__
from .model import EventFilter
from .session import OpenedStore, open_store

FIRST_PAGE = 200


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def cache_dir() -> Path:
    import platformdirs

    d = Path(platformdirs.user_cache_dir("inspector")) / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def synthetic_store(events: int, seed: int = 7) -> Path:
    """A demo store of ``events`` events, built once and kept in the cache directory."""
    from .demo import create_demo

    path = cache_dir() / f"demo-{events}-{seed}.sqlite"
    if not path.exists():
        tmp = path.with_suffix(".building")
        create_demo(tmp, events=events, seed=seed)
        tmp.rename(path)
    return path


def copy_to_server(sqlite_path: Path, server_url: str, name: str) -> tuple[str, str]:
    """Load an own-layout SQLite store into a server database (PostgreSQL: schema ``name``;
    MariaDB: database ``name``), once. Returns (url, qualified events table)."""
    from . import ownstore
    from .connect import normalize_url

    url = normalize_url(server_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    backend = admin.dialect.name
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    n_src = src.execute("SELECT COUNT(*) FROM inspector_events").fetchone()[0]
    if backend == "postgresql":
        target_url, table = url, f"{name}.inspector_events"
        with admin.connect() as c:
            have = c.execute(sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema=:s AND table_name='inspector_events'"), {"s": name}).first()
            if have and c.execute(sa.text(f'SELECT COUNT(*) FROM "{name}".inspector_events')).scalar() == n_src:
                return target_url, table
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            c.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        eng = sa.create_engine(url, execution_options={"schema_translate_map": {None: name}})
    else:
        target_url = str(sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False))
        table = "inspector_events"
        with admin.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
        eng = sa.create_engine(target_url)
        with eng.connect() as c:
            if sa.inspect(c).has_table("inspector_events") and c.execute(sa.text("SELECT COUNT(*) FROM inspector_events")).scalar() == n_src:
                return target_url, table
            c.execute(sa.text("DROP TABLE IF EXISTS inspector_events, inspector_commands, inspector_store_info"))
    with eng.begin() as conn:
        ownstore.create_schema(conn, indexes=False)
    cols = "position, event_id, stream, version, type, recorded_at, data, metadata, causation_id, correlation_id, actor"
    cur = src.execute(f"SELECT {cols} FROM inspector_events ORDER BY position")
    raw = eng.raw_connection()
    try:
        c = raw.cursor()
        if backend == "postgresql":
            with c.copy(f'COPY "{name}".inspector_events ({cols}) FROM STDIN') as cp:
                while rows := cur.fetchmany(20_000):
                    for r in rows:
                        cp.write_row(r)
        else:
            sql = f"INSERT INTO inspector_events ({cols}) VALUES ({', '.join(['%s'] * 11)})"
            while rows := cur.fetchmany(5_000):
                c.executemany(sql, [(*r[:5], r[5].replace("T", " ").rstrip("Z"), *r[6:]) for r in rows])
        raw.commit()
    finally:
        raw.close()
    with eng.begin() as conn:
        ownstore.create_indexes(conn)
        if backend == "postgresql":
            conn.execute(sa.text(f'ANALYZE "{name}".inspector_events'))
    eng.dispose()
    admin.dispose()
    src.close()
    return target_url, table


def _open(url: str, pm, layout: str | None, mapping: Any, table: str | None) -> OpenedStore:
    if table and mapping is None:
        layout = f"inspector:{table}"  # several bench schemas may sit side by side: open the one loaded
    return open_store(url, pm.layout_definitions(), pm.codecs(), layout=layout, mapping=mapping)


def measure(opened: OpenedStore, repeats: int = 7) -> dict[str, Any]:
    store = opened.store
    pos = store.expr("position")
    frm = store._from_base
    raw_cols = ", ".join(x for x in (pos, store.expr("stream"), store.expr("type"), store._plain(store.layout.ref("payload"))) if x)
    out: dict[str, Any] = {"events": store.count()}

    def raw_scan() -> int:
        rawc = store.engine.raw_connection()
        try:
            cur = rawc.cursor()
            cur.execute(f"SELECT {raw_cols} FROM {frm} ORDER BY {pos}")
            n = 0
            while rows := cur.fetchmany(10_000):
                n += len(rows)
            cur.close()
            return n
        finally:
            rawc.close()

    t0 = time.perf_counter()
    n = raw_scan()
    out["raw_scan_eps"] = round(n / max(time.perf_counter() - t0, 1e-9))

    page_sql = f"SELECT {store._select} FROM {store._from} ORDER BY {pos} LIMIT {FIRST_PAGE}"

    def raw_page() -> None:
        rawc = store.engine.raw_connection()
        try:
            cur = rawc.cursor()
            cur.execute(page_sql)
            cur.fetchall()
            cur.close()
        finally:
            rawc.close()

    out["first_page_raw_ms"] = _median_ms(raw_page, repeats)
    out["first_page_ms"] = _median_ms(lambda: store.read_page(EventFilter(), limit=FIRST_PAGE), repeats)
    out["first_page_ratio"] = round(out["first_page_ms"] / max(out["first_page_raw_ms"], 1e-6), 2)
    out["histogram_ms"] = _median_ms(lambda: store.histogram(EventFilter(), bins=150), max(3, repeats // 2))
    out["count_ms"] = _median_ms(lambda: store.count(EventFilter()), 3)
    return out


def measure_history(opened: OpenedStore, pm, projection: str = "streams", samples: int = 50,
                    seed: int = 11) -> dict[str, Any]:
    """Issue 3's figures: the projection's history build rate against the raw scan-and-decode rate
    of the same store in the same run, its size, and the medians of state-as-of and diff at random
    positions; then issue 4's preview figures with that history built."""
    import random

    from .history import build_history

    store = opened.store
    proj = {p.name: p for p in pm.projections()}[projection]
    t0 = time.perf_counter()
    n = sum(len(page.events) for page in store.iter_pages(EventFilter(), page_size=5000))
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hist = build_history(store, proj)
    build_s = time.perf_counter() - t0
    out: dict[str, Any] = {"history_projection": projection, "raw_decode_eps": round(n / max(decode_s, 1e-9)),
                           "history_build_eps": round(n / max(build_s, 1e-9))}
    out["build_vs_raw"] = round(out["history_build_eps"] / max(out["raw_decode_eps"], 1), 3)
    out["history_bytes_per_event"] = round(hist.nbytes / max(n, 1), 1)
    rng = random.Random(seed)
    lo, hi = store.bounds().first_position or 0, store.head() or 0
    positions = [rng.randint(lo, hi) for _ in range(samples)]
    out["as_of_ms_median"] = _median_ms(lambda it=iter(positions * 2): hist.as_of(next(it)), samples, warmup=2)
    pairs = [(rng.randint(lo, hi), rng.randint(lo, hi)) for _ in range(samples + 2)]
    out["diff_ms_median"] = _median_ms(lambda it=iter(pairs): hist.diff(*next(it)), samples, warmup=2)
    from .bench_replay import measure_previews

    out.update(measure_previews(opened, pm, {projection: hist}))
    return out


def run_bench(url: str | None, synthetic: int | None, pm, backend_url: str | None = None,
              layout: str | None = None, mapping: Any = None, seed: int = 7, repeats: int = 7,
              history: str | None = "streams", gui: Callable[[OpenedStore], dict[str, Any]] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"inspector": __version__, "python": platform.python_version(),
                              "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    table = None
    if synthetic:
        t0 = time.perf_counter()
        path = synthetic_store(synthetic, seed)
        result["store_build_s"] = round(time.perf_counter() - t0, 2)
        url = str(path)
        if backend_url:
            t0 = time.perf_counter()
            url, table = copy_to_server(path, backend_url, f"inspector_bench_{synthetic}_{seed}")
            result["server_load_s"] = round(time.perf_counter() - t0, 2)
    opened = _open(url, pm, layout, mapping, table)
    try:
        result.update(backend=opened.store.dialect.name, layout=opened.layout.name)
        result.update(measure(opened, repeats))
        if history:
            result.update(measure_history(opened, pm, history))
        if gui is not None:
            result.update(gui(opened))
    finally:
        opened.store.close()
    if synthetic and synthetic > 10_000:
        # the first page must not grow with the store: the same figure on a 10k-event store
        small = synthetic_store(10_000, seed)
        small_url, small_table = str(small), None
        if backend_url:
            small_url, small_table = copy_to_server(small, backend_url, f"inspector_bench_10000_{seed}")
        o2 = _open(small_url, pm, None, None, small_table)
        try:
            ms = _median_ms(lambda: o2.store.read_page(EventFilter(), limit=FIRST_PAGE), repeats)
        finally:
            o2.store.close()
        result["first_page_ms_10k"] = ms
        result["first_page_growth"] = round(result["first_page_ms"] / max(ms, 1e-6), 2)
    return result
