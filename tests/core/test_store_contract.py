"""The store contract: what every layout on every backend must do, in the spirit of the
eventsourcing library's recorder test cases. ``StoreContract`` holds the tests; each ``Test*``
subclass writes one real store (fixture writers in ``tests/fixtures``) and declares what its
layout cannot do, where the test then expects a clear ``UnsupportedFilter``."""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from typing import Any, Callable

import pytest

from inspector.core.errors import UnsupportedFilter
from inspector.core.model import EventFilter, RecordedEvent
from inspector.core.session import open_store
from inspector.core.store import EventStore
from tests.conftest import new_database
from tests.fixtures import TEXT_TERM, Expected, Written, axon, inspector, marten, messagedb, rails

UTC = dt.timezone.utc
FILTERS = ("stream", "category", "types", "after_before", "combined", "since_until", "actor", "correlation", "text")


def matches(e: Expected, f: EventFilter) -> bool:
    """The filter evaluated in Python over what the fixture wrote."""
    return (
        (f.stream is None or e.stream == f.stream)
        and (f.category is None or e.category == f.category)
        and (not f.types or e.type in f.types)
        and (f.after is None or e.position > f.after)
        and (f.before is None or e.position < f.before)
        and (f.since is None or e.recorded_at >= f.since)
        and (f.until is None or e.recorded_at < f.until)
        and (f.actor is None or e.actor == f.actor)
        and (f.correlation_id is None or e.correlation_id == f.correlation_id)
        and (not f.text or f.text.lower() in e.searchable.lower())
    )


def read_forward(store: EventStore, limit: int, **kw: Any) -> list[RecordedEvent]:
    out, cursor = [], None
    while True:
        page = store.read_page(limit=limit, cursor=cursor, **kw)
        assert len(page.events) <= limit
        out += page.events
        if not page.has_more:
            return out
        assert page.events, "a page that says more follows must not be empty"
        cursor = page.last_key


def read_backward(store: EventStore, limit: int, **kw: Any) -> list[RecordedEvent]:
    """From the end towards the start, the way a view scrolled to the bottom pages upwards."""
    out, cursor = [], None
    while True:
        page = store.read_page(limit=limit, cursor=cursor, backward=True, **kw)
        out = list(page.events) + out
        if not page.has_more:
            return out
        cursor = page.first_key


class StoreContract:
    """Subclasses set ``backend``, ``layout`` and ``write`` and the capability flags."""

    backend = "sqlite"
    layout = ""
    version_base = 1
    events = 40
    time_filters = True  # the store keeps a time the database can compare
    actor_filter = True  # an actor is mapped to a column
    correlation_filter = True  # correlation can be evaluated in SQL (not inside binary metadata)
    text_searchable = True  # payloads are text the database can search
    event_ids = True  # events carry an id of their own
    write: Callable[[str], Written]

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def written(cls, tmp_path_factory) -> Written:
        url, drop = new_database(cls.backend, tmp_path_factory.mktemp("store"))
        try:
            yield cls.write(url, events=cls.events)
        finally:
            drop()

    @pytest.fixture(scope="class")
    @classmethod
    def opened(cls, written, plugin_manager):
        o = open_store(written.url, plugin_manager.layout_definitions(), plugin_manager.codecs())
        yield o
        o.store.close()

    @pytest.fixture
    def store(self, opened) -> EventStore:
        return opened.store

    # -- hooks -----------------------------------------------------------------------------
    def check_payload(self, actual: RecordedEvent, expected: Expected) -> None:
        assert actual.data == expected.data, f"payload of position {expected.position}"
        assert actual.decode_error is None

    def build_filter(self, name: str, w: Written) -> EventFilter:
        ev = w.events
        first_cat = next(e.category for e in ev if e.category)
        if name == "stream":
            return EventFilter(stream=ev[0].stream)
        if name == "category":
            return EventFilter(category=first_cat)
        if name == "types":
            return EventFilter(types=(ev[0].type, ev[3].type))
        if name == "after_before":
            return EventFilter(after=ev[5].position, before=ev[30].position)
        if name == "combined":
            return EventFilter(category=first_cat, types=(ev[0].type, ev[2].type, ev[5].type), after=ev[1].position)
        if name == "since_until":  # bounds exactly on events: since is inclusive, until exclusive
            return EventFilter(since=ev[10].recorded_at, until=ev[25].recorded_at.astimezone(dt.timezone(dt.timedelta(hours=2))))
        if name == "actor":
            return EventFilter(actor="user:bob")
        if name == "correlation":
            return EventFilter(correlation_id=next((e.correlation_id for e in ev[6:] if e.correlation_id), "n/a"))
        if name == "text":
            return EventFilter(text=TEXT_TERM)
        raise ValueError(name)

    def unsupported(self, name: str) -> str | None:
        """The words the UnsupportedFilter message must hold, or None when the filter works."""
        if name == "since_until" and not self.time_filters:
            return "time"
        if name == "actor" and not self.actor_filter:
            return "actor"
        if name == "correlation" and not self.correlation_filter:
            return "correlation"
        return None

    def assert_event(self, actual: RecordedEvent, expected: Expected) -> None:
        got = (actual.position, actual.stream, actual.version, actual.type, actual.event_id)
        assert got == (expected.position, expected.stream, expected.version, expected.type, expected.event_id)
        assert actual.recorded_at is not None and actual.recorded_at.utcoffset() == dt.timedelta(0)
        assert actual.recorded_at == expected.recorded_at, f"time of position {expected.position}"
        assert actual.correlation_id == expected.correlation_id
        assert actual.causation_id == expected.causation_id
        if self.actor_filter:
            assert actual.actor == expected.actor
        self.check_payload(actual, expected)

    # -- the contract ------------------------------------------------------------------------
    def test_detection_ranks_the_layout_first(self, opened, written):
        best = opened.detection.candidates[0]
        assert best.layout.name == self.layout
        assert best.layout.table == written.table
        assert best.reasons and all(isinstance(r, str) and r for r in best.reasons)
        assert all(c.confidence <= best.confidence for c in opened.detection.candidates)

    def test_reads_every_event_in_global_order(self, store, written):
        events = list(store.iter_events(page_size=7))
        assert [e.position for e in events] == [e.position for e in written.events]
        for actual, expected in zip(events, written.events):
            self.assert_event(actual, expected)
        first_versions: dict[str, int] = {}
        for e in events:
            if e.version is not None:
                first_versions.setdefault(e.stream, e.version)
        assert set(first_versions.values()) == {self.version_base}

    @pytest.mark.parametrize("limit", [1, 3, 7, 100])
    def test_keyset_paging_forward_and_backward(self, store, written, limit):
        positions = [e.position for e in written.events]
        assert [e.position for e in read_forward(store, limit)] == positions
        assert [e.position for e in read_backward(store, limit)] == positions
        assert [e.position for e in read_forward(store, limit, descending=True)] == positions[::-1]
        assert [e.position for e in read_backward(store, limit, descending=True)] == positions[::-1]

    def test_paging_resumes_from_a_cursor_in_the_middle(self, store, written):
        page = store.read_page(limit=5)
        nxt = store.read_page(limit=5, cursor=page.last_key)
        back = store.read_page(limit=5, cursor=nxt.first_key, backward=True)
        assert [e.position for e in back.events] == [e.position for e in page.events]
        assert not back.has_more and nxt.has_more
        assert [e.position for e in nxt.events] == [e.position for e in written.events[5:10]]

    @pytest.mark.parametrize("sort", ["type", "stream", "version", "recorded_at"])
    def test_sorted_keyset_paging(self, store, written, sort):
        if sort == "recorded_at" and not self.time_filters:
            with pytest.raises(UnsupportedFilter, match="time"):
                store.read_page(limit=3, sort=sort)
            return
        whole = store.read_page(limit=1000, sort=sort).events
        assert sorted(e.position for e in whole) == sorted(e.position for e in written.events)
        for limit in (3, 7):
            assert [e.position for e in read_forward(store, limit, sort=sort)] == [e.position for e in whole]
            down = read_forward(store, limit, sort=sort, descending=True)
            assert [e.position for e in down] == [e.position for e in whole][::-1]
            assert [e.position for e in read_backward(store, limit, sort=sort)] == [e.position for e in whole]
        flt = self.build_filter("combined", written)  # a filtered sorted view pages the same way
        by_pos = written.by_position()
        want = [e.position for e in whole if matches(by_pos[e.position], flt)]
        assert [e.position for e in read_forward(store, 2, sort=sort, flt=flt)] == want
        key = {"type": lambda e: e.type, "stream": lambda e: e.stream, "version": lambda e: e.version,
               "recorded_at": lambda e: e.recorded_at}[sort]
        groups: dict[Any, list[int]] = defaultdict(list)
        order: list[Any] = []
        for e in whole:
            if not groups[key(e)]:
                order.append(key(e))
            groups[key(e)].append(e.position)
        assert len(order) == len(groups), "equal sort values must be contiguous"
        assert all(g == sorted(g) for g in groups.values()), "ties are ordered by position"
        if sort in ("version", "recorded_at") or self.backend != "mysql":  # MariaDB collations ignore case
            assert order == sorted(order, key=lambda v: (v is not None, v)), f"sorted by {sort}"

    @pytest.mark.parametrize("name", FILTERS)
    def test_filter(self, store, written, name):
        flt = self.build_filter(name, written)
        why = self.unsupported(name)
        if why:
            for call in (lambda: store.read_page(flt), lambda: store.count(flt), lambda: store.histogram(flt)):
                with pytest.raises(UnsupportedFilter, match=why) as info:
                    call()
                assert self.layout in str(info.value)
            return
        expected = [e.position for e in written.events if matches(e, flt)]
        if name == "text" and not self.text_searchable:
            expected = []
        assert expected or name == "text" and not self.text_searchable, f"filter {name} selects nothing"
        if name not in ("text",):
            assert len(expected) < len(written.events), f"filter {name} selects everything"
        got = list(store.iter_events(flt, page_size=4))
        assert [e.position for e in got] == expected
        assert store.count(flt) == len(expected)
        hist = store.histogram(flt, bins=17)
        assert sum(b.total for b in hist.bins) == len(expected)
        backward = read_backward(store, 3, flt=flt)
        assert [e.position for e in backward] == expected

    def test_values_that_are_not_there_match_nothing(self, store):
        """Typed columns (uuid, integers) must not turn a user's odd input into a database error."""
        flts = [EventFilter(stream="no-such-stream"), EventFilter(category="nothing"),
                EventFilter(types=("NoSuchType",)), EventFilter(text="zz-not-there-zz"), EventFilter(after=10**12)]
        if self.actor_filter:
            flts.append(EventFilter(actor="nobody"))
        if self.correlation_filter:
            flts.append(EventFilter(correlation_id="not-a-uuid"))
        for flt in flts:
            assert store.count(flt) == 0, flt
            assert store.read_page(flt, limit=5).events == ()
        if self.event_ids:
            assert store.find_event("not-a-uuid") is None

    def test_count_and_histogram(self, store, written):
        n = len(written.events)
        assert store.count() == n
        hist = store.histogram(bins=20)
        assert hist.axis == ("time" if self.time_filters else "position")
        assert sum(b.total for b in hist.bins) == n
        assert [b.start for b in hist.bins] == sorted(b.start for b in hist.bins)
        per_type: Counter = Counter()
        for b in hist.bins:
            per_type.update(b.counts)
        assert per_type == Counter(e.type for e in written.events)
        assert set(hist.types) == set(per_type)

    def test_histogram_window(self, store, written):
        ev = written.events
        if self.time_filters:
            lo = (ev[10].recorded_at.timestamp() + ev[11].recorded_at.timestamp()) / 2
            hi = (ev[20].recorded_at.timestamp() + ev[21].recorded_at.timestamp()) / 2
            inside = [e for e in ev if lo <= e.recorded_at.timestamp() <= hi]
        else:
            lo, hi = ev[10].position + 0.5, ev[20].position + 0.5
            inside = [e for e in ev if lo <= e.position <= hi]
        hist = store.histogram(bins=10, start=lo, end=hi)
        assert 10 <= len(inside) < len(ev)
        assert sum(b.total for b in hist.bins) == len(inside)
        assert lo - hist.bucket_seconds <= hist.bins[0].start and hist.bins[-1].end <= hi + hist.bucket_seconds

    def test_streams_categories_and_types(self, store, written):
        want: dict[str, list] = {}
        for e in written.events:
            s = want.setdefault(e.stream, [0, 0, e.category])
            s[0] += 1
            s[1] = max(s[1], e.position)
        got = {s.stream: [s.events, s.last_position, s.category] for s in store.streams()}
        assert got == want
        lasts = [s.last_position for s in store.streams()]
        assert lasts == sorted(lasts, reverse=True)
        assert [s.stream for s in store.streams(limit=2)] == [s.stream for s in store.streams()][:2]
        cats: dict[str, list] = {}
        for stream, (n, _, cat) in want.items():
            c = cats.setdefault(cat or "", [0, 0])
            c[0] += 1
            c[1] += n
        assert {c.category: [c.streams, c.events] for c in store.categories()} == cats
        assert dict(store.event_types()) == dict(Counter(e.type for e in written.events))
        flt = EventFilter(types=(written.events[0].type,))
        assert sum(s.events for s in store.streams(flt)) == store.count(flt)
        assert dict(store.event_types(flt)) == {written.events[0].type: store.count(flt)}

    def test_get_find_bounds_and_head(self, store, written):
        for e in written.events[::3]:
            self.assert_event(store.get(e.position), e)
            if self.event_ids:
                found = store.find_event(e.event_id)
                assert found is not None and found.position == e.position
        last = max(e.position for e in written.events)
        assert store.get(last + 1) is None and store.get(0) is None
        if "gap" in written.notes:
            assert store.get(written.notes["gap"]) is None
        if self.event_ids:
            assert store.find_event("00000000-0000-0000-0000-00000000dead") is None
        else:
            with pytest.raises(UnsupportedFilter, match="event id"):
                store.find_event("00000000-0000-0000-0000-00000000dead")
        assert store.head() == last
        b = store.bounds()
        assert (b.events, b.first_position, b.last_position) == (len(written.events), written.events[0].position, last)
        assert b.first_time == written.events[0].recorded_at and b.last_time == written.events[-1].recorded_at


# -- the layouts and backends ------------------------------------------------------------------


class TestInspectorSQLite(StoreContract):
    backend, layout, write = "sqlite", "inspector", staticmethod(inspector.create)


class TestInspectorPostgres(TestInspectorSQLite):
    backend = "postgresql"


class TestInspectorMariaDB(TestInspectorSQLite):
    backend = "mysql"


class TestMarten(StoreContract):
    backend, layout, write = "postgresql", "marten", staticmethod(marten.create)


class TestMartenInASchema(TestMarten):
    """``Events.DatabaseSchemaName = "events"``: the tables (and the stream join) in a schema."""

    write = staticmethod(functools.partial(marten.create, schema="events"))


class TestMessageDB(StoreContract):
    backend, layout, write = "postgresql", "message-db", staticmethod(messagedb.create)
    version_base = 0
    actor_filter = False  # Eventide keeps no actor


class TestRailsEventStorePostgres(StoreContract):
    backend, layout, write = "postgresql", "rails-event-store", staticmethod(rails.create)
    version_base = 0
    actor_filter = False

    def test_a_linked_event_is_listed_once_under_its_first_stream(self, store, written):
        eid = written.notes["linked_event"]
        hits = [e for e in store.iter_events() if e.event_id == eid]
        assert len(hits) == 1 and hits[0].stream != written.notes["link_stream"]
        assert store.count() == len(written.events)


class TestRailsEventStoreMariaDB(TestRailsEventStorePostgres):
    backend = "mysql"


class TestRailsEventStoreSQLite(TestRailsEventStorePostgres):
    """The default client: YAML in BLOBs. Payloads show as text; correlation lives inside binary
    metadata, so neither reading nor filtering by it is possible."""

    backend = "sqlite"
    correlation_filter = False

    def check_payload(self, actual, expected):
        assert actual.data == expected.data and actual.encoding == "text"


class TestAxonJdbcPostgres(StoreContract):
    backend, layout, write = "postgresql", "axon", staticmethod(axon.create_jdbc)
    version_base = 0
    actor_filter = False
    correlation_filter = False  # correlationId sits inside the XStream metadata bytes

    def check_payload(self, actual, expected):
        assert actual.data == expected.data and actual.encoding == "xml"
        assert actual.metadata is not None and actual.decode_error is None


class TestAxonJdbcMariaDB(TestAxonJdbcPostgres):
    backend = "mysql"


class TestAxonJdbcSQLite(TestAxonJdbcPostgres):
    backend = "sqlite"


class TestAxonJpaPostgres(TestAxonJdbcPostgres):
    """Hibernate's ``oid`` large objects: payloads read through ``lo_get``."""

    write = staticmethod(axon.create_jpa)


class TestAxonJpaMariaDB(TestAxonJpaPostgres):
    backend = "mysql"
