"""The bundled demo store: a month of an online shop run partly by AI agents, written in the
inspector's own layout, with one incident worth finding.

The incident: on one day in the middle of the month ``agent:pricing-bot`` runs a ``BulkReprice``
command that cuts the prices of a few dozen products by 90%. Customers order at those prices,
``agent:inventory-bot`` reserves (and reorders) stock for them, ``agent:fraud-watch`` flags them,
and hours later ``user:alice`` restores the prices. The orders stay.

The shop is a small discrete simulation: spontaneous activities (a customer orders, registers,
an agent reprices...) interleave with follow-ups scheduled a number of *events* later (stock
reservations, payment capture, shipping, returns). Events are generated an hour of shop time at a
time and only then stamped with times spread over that hour, so times rise with position and
memory stays bounded by one hour of events. Everything draws from one ``random.Random(seed)``, so a
(seed, events, days) triple always gives the same file. Rows go in through the stdlib ``sqlite3``
module with precomputed JSON; the schema and indexes come from ``ownstore``."""

from __future__ import annotations

import datetime as dt
import heapq
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex

from .. import __version__
from . import ownstore
from .ownstore import encode_json as _json

UTC = dt.timezone.utc
#: Exclusive end of the demo month: its last day is 2026-10-31 whatever ``days`` is.
END = dt.datetime(2026, 11, 1, tzinfo=UTC)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 20_000  # rows per executemany (and per progress callback)
MIN_EVENTS = 200  # below this the catalog set-up and the incident alone would overshoot

_HOURS = (0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.1, 1.2, 1.25,
          1.35, 1.3, 1.2, 1.15, 1.2, 1.35, 1.6, 1.85, 1.9, 1.6, 1.1, 0.6)  # UTC, European shoppers
_WEEKDAYS = (1.0, 0.96, 0.98, 1.0, 1.08, 1.22, 1.15)  # Monday first
_CATEGORIES = (  # sku prefix, category, product nouns, price range (EUR)
    ("KIT", "kitchen", ("Chef's Knife", "Cast Iron Skillet", "Espresso Cups", "Cutting Board", "Stock Pot"), 6, 180),
    ("GAR", "garden", ("Pruning Shears", "Hose Reel", "Raised Bed", "Seed Kit", "Solar Lantern"), 5, 240),
    ("ELE", "electronics", ("USB-C Charger", "Bluetooth Speaker", "Headphones", "Smart Plug", "E-Reader"), 12, 480),
    ("HOM", "home", ("Linen Duvet Cover", "Wool Throw", "Table Lamp", "Wall Clock", "Scented Candle"), 8, 220),
    ("SPO", "sports", ("Yoga Mat", "Running Vest", "Kettlebell", "Cycling Gloves", "Water Bottle"), 7, 160),
    ("TOY", "toys", ("Wooden Train Set", "Puzzle 1000pc", "Building Blocks", "Plush Fox", "Board Game"), 9, 120),
    ("OFF", "office", ("Notebook A5", "Fountain Pen", "Desk Organizer", "Monitor Stand", "Ergonomic Mouse"), 4, 150),
    ("BEA", "beauty", ("Face Serum", "Shampoo Bar", "Hand Cream", "Lip Balm", "Body Oil"), 4, 60),
)
_ADJECTIVES = ("Classic", "Pro", "Compact", "Eco", "Deluxe", "Nordic", "Everyday", "Premium", "Mini", "Studio")
_FIRST = ("Anna", "Lukas", "Sofia", "Jonas", "Emma", "Noah", "Mia", "Elias", "Léa", "Finn", "Clara", "Mateo",
          "Julia", "Liam", "Marie", "Lars", "Inês", "Tomás", "Eva", "Hugo", "Chiara", "Luca", "Zofia", "Jakub",
          "Freja", "Oskar", "Saoirse", "Cian", "Björn", "Aoife")
_LAST = ("Müller", "Schmidt", "Dubois", "Martin", "de Jong", "Jansen", "Rossi", "Bianchi", "García", "López",
         "Kowalski", "Nowak", "Andersson", "Nilsson", "Murphy", "Kelly", "Peeters", "Maes", "Gruber", "Huber",
         "Weber", "Moreau", "Visser", "Ferrari", "Fernández", "Lindqvist", "O'Brien", "Wagner", "Bakker", "Żak")
_COUNTRIES = (  # code, calling code, cities, street
    ("DE", "49", ("Berlin", "Hamburg", "München", "Köln"), "Hauptstraße"),
    ("FR", "33", ("Paris", "Lyon", "Lille", "Nantes"), "Rue de la République"),
    ("NL", "31", ("Amsterdam", "Utrecht", "Rotterdam"), "Kerkstraat"),
    ("IT", "39", ("Milano", "Torino", "Bologna"), "Via Roma"),
    ("ES", "34", ("Madrid", "Valencia", "Sevilla"), "Calle Mayor"),
    ("PL", "48", ("Kraków", "Gdańsk", "Wrocław"), "ul. Długa"),
    ("SE", "46", ("Stockholm", "Göteborg", "Malmö"), "Storgatan"),
    ("IE", "353", ("Dublin", "Cork", "Galway"), "Main Street"),
    ("AT", "43", ("Wien", "Graz", "Linz"), "Bahnhofstraße"),
)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
)
_STAFF_IP = {"user:alice": "198.51.100.11", "user:bob": "198.51.100.12", "user:carol": "198.51.100.13",
             "user:dave": "198.51.100.14", "user:erin": "198.51.100.15"}
_WAREHOUSE = ("user:bob", "user:dave")
_CARRIERS = ("DHL", "DPD", "GLS", "UPS", "PostNL")
_METHODS = ("card", "card", "paypal", "sepa_debit", "klarna")
_RETURN_REASONS = ("damaged in transit", "wrong size", "changed mind", "arrived late", "not as described")
_GOODWILL = ("late delivery goodwill", "damaged packaging", "loyalty bonus", "price match")
_FRAUD_RULES = ("velocity", "address_mismatch", "card_country_mismatch", "disposable_email")
REORDER_POINT = 15
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122 variant digit


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower().replace(" ", "").replace("'", "")


_FIRST_ASCII = tuple(_ascii(n) for n in _FIRST)
_LAST_ASCII = tuple(_ascii(n) for n in _LAST)


def _customer_client(n: int) -> str:
    """The metadata tail for customer ``n``'s own events: a stable address from the documentation
    ranges (never a real one; 198.51.100.11-15 are the staff's) and a browser."""
    net, host = ("192.0.2", "203.0.113", "198.51.100")[n % 3], 1 + n % 250 if n % 3 < 2 else 100 + n % 150
    return f',"ip":"{net}.{host}","user_agent":{_json(_USER_AGENTS[n % 4])}'


def _price(x: float) -> float:
    """Shop prices end in 9: 23.4 -> 23.39."""
    return max(0.49, round(round(x, 1) - 0.01, 2))


@dataclass(frozen=True)
class DemoSummary:
    """What ``create_demo`` wrote. ``incident`` describes the bad bulk reprice (JSON-ready):
    ``day`` (0-based) and ``date``; ``command_id``, ``correlation_id``, ``command_type``, ``actor``
    of the pricing-bot batch; ``skus`` and ``price_changes``; ``orders_at_wrong_prices`` and
    ``orders`` (their order ids); ``fix_command_id``, ``fix_correlation_id``, ``fix_actor`` of
    the human repair; ``started_at`` / ``fixed_at`` as stored (ISO 8601 UTC text)."""

    path: Path
    events: int
    commands: int
    streams: int
    first_time: dt.datetime
    last_time: dt.datetime
    incident: dict[str, Any]


def default_demo_path() -> Path:
    """Where the GUI and CLI keep the demo store unless told otherwise."""
    import platformdirs

    return Path(platformdirs.user_data_dir("inspector")) / "demo.sqlite"


class _Order:
    __slots__ = ("no", "oid", "customer", "lines", "total", "method", "corr", "ctx", "ov", "pv")


class _Shop:
    """The simulation. ``run`` yields, per hour of shop time, the event rows and command rows
    (lists in insert column order) generated during that hour."""

    def __init__(self, rng: Random, events: int, days: int) -> None:
        self.rng, self.total, self.days = rng, events, days
        self.per_day = events / days  # follow-up delays are counted in events
        self.t0_us = int((END - dt.timedelta(days=days)).timestamp()) * 1_000_000
        self.evs: list[list[Any]] = []
        self.cmds: list[list[Any]] = []
        self.emitted = self.commands = self.streams = 0
        self.first_us = self.last_us = 0
        self.heap: list[tuple[int, int, Callable[..., None], tuple]] = []
        self.seq = 0
        self.skus: list[str] = []
        self.names: list[str] = []
        self.price: list[float] = []
        self.pver: list[int] = []
        self.iver: list[int] = []
        self.avail: list[int] = []
        self.reorder_open: list[bool] = []
        self.orderable: list[int] = []
        self.cver: list[int] = []  # customer stream versions; customer n is index n - 1001
        self.next_order, self.next_po = 100001, 5001
        self.affected: list[int] = []
        self.affected_set: frozenset[int] = frozenset()
        self.list_price: dict[int, float] = {}
        self.incident_open = False
        self.incident: dict[str, Any] = {}
        self.wrong_orders: list[str] = []
        self._prefix: dict[int, str] = {}

    # -- primitives ------------------------------------------------------------------------
    def _uuid(self) -> str:
        """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, by string surgery (2x faster)."""
        h = "%032x" % self.rng.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"

    def _cmd(self, ctype: str, actor: str, payload: Any, reason: str | None = None, corr: str | None = None) -> tuple:
        """Record a command; returns the context its events are emitted under."""
        cid = self._uuid()
        corr = corr or self._uuid()
        if actor.startswith("user:"):
            extra = f',"ip":"{_STAFF_IP[actor]}","user_agent":{_json(_USER_AGENTS[4])}'
            delay = 200_000 + int(self.rng.random() * 1_500_000)
        elif actor.startswith("customer:"):
            extra = _customer_client(int(actor[9:]))
            delay = 150_000 + int(self.rng.random() * 900_000)
        else:
            extra, delay = "", 2_000 + int(self.rng.random() * 60_000)
        self.cmds.append([cid, ctype, actor, None, _json(payload), corr, reason, len(self.evs), delay])
        self.commands += 1
        return (cid, corr, f'{{"command_id":"{cid}","command_type":"{ctype}"', actor, extra)

    def _emit(self, stream: str, version: int, etype: str, data: Any, ctx: tuple, causation: str, actor: str) -> str:
        eid = self._uuid()
        _, corr, head, cactor, extra = ctx
        meta = (f'{head},"actor":"{actor}","causation_id":"{causation}","correlation_id":"{corr}",'
                f'"schema_version":1{extra if actor == cactor else ""}}}')
        self.evs.append([eid, stream, version, etype, None, _json(data), meta, causation, corr, actor])
        if version == 1:
            self.streams += 1
        self.emitted += 1
        return eid

    def _later(self, fn: Callable[..., None], delay: int, *args: Any) -> None:
        heapq.heappush(self.heap, (self.emitted + max(1, delay), self.seq, fn, args))
        self.seq += 1

    def _days(self, lo: float, hi: float) -> int:
        """A follow-up delay between ``lo`` and ``hi`` days, in events (at least 10, so it lands
        after the order's own quick follow-ups even in tiny stores)."""
        return max(10, int(self.per_day * (lo + (hi - lo) * self.rng.random())))

    # -- catalog, stock and prices ---------------------------------------------------------
    def _setup(self, products: int) -> None:
        rng = self.rng
        for c, (code, category, nouns, lo, hi) in enumerate(_CATEGORIES):
            idxs = []
            for _ in range(c, products, len(_CATEGORIES)):
                sku = f"{code}{len(idxs) + 1:04d}"
                idxs.append(self._new_product(sku, f"{rng.choice(_ADJECTIVES)} {rng.choice(nouns)}",
                                              _price(lo * (hi / lo) ** rng.random())))
            if not idxs:
                continue
            ctx = self._cmd("ImportCatalog", "user:carol", {"category": category, "source": "catalog-2026-10.csv",
                                                            "products": len(idxs)}, reason="initial catalog import")
            for i in idxs:
                self.pver[i] = 1
                self._emit(f"product-{self.skus[i]}", 1, "ProductAdded", {
                    "sku": self.skus[i], "name": self.names[i], "category": category,
                    "price": self.price[i], "currency": "EUR"}, ctx, ctx[0], "user:carol")
        for c in range(len(_CATEGORIES)):
            idxs = list(range(c, products, len(_CATEGORIES)))
            if idxs:
                self._receive(idxs, [40 + int(rng.random() * 260) for _ in idxs])

    def _new_product(self, sku: str, name: str, price: float) -> int:
        self.skus.append(sku)
        self.names.append(name)
        self.price.append(price)
        self.pver.append(0)
        self.iver.append(0)
        self.avail.append(0)
        self.reorder_open.append(False)
        return len(self.skus) - 1

    def _receive(self, idxs: list[int], qtys: list[int], po: str | None = None) -> None:
        actor = self.rng.choice(_WAREHOUSE)
        po = po or f"PO-{self._po()}"
        lines = [{"sku": self.skus[i], "qty": q} for i, q in zip(idxs, qtys)]
        ctx = self._cmd("ReceiveStock", actor, {"purchase_order": po, "lines": lines})
        for i, q in zip(idxs, qtys):
            self.avail[i] += q
            self.iver[i] += 1
            self._emit(f"inventory-{self.skus[i]}", self.iver[i], "StockReceived", {
                "sku": self.skus[i], "qty": q, "purchase_order": po, "location": "WH-1",
                "available": self.avail[i]}, ctx, ctx[0], actor)
            if self.reorder_open[i]:
                self.reorder_open[i] = False
            elif self.iver[i] == 1:
                self.orderable.append(i)

    def _po(self) -> int:
        self.next_po += 1
        return self.next_po - 1

    def _add_product(self) -> None:
        code, category, nouns, lo, hi = self.rng.choice(_CATEGORIES)
        sku = f"{code}{sum(s.startswith(code) for s in self.skus) + 1:04d}"
        i = self._new_product(sku, f"{self.rng.choice(_ADJECTIVES)} {self.rng.choice(nouns)}",
                              _price(lo * (hi / lo) ** self.rng.random()))
        data = {"sku": sku, "name": self.names[i], "category": category, "price": self.price[i], "currency": "EUR"}
        ctx = self._cmd("AddProduct", "user:carol", data)
        self.pver[i] = 1
        self._emit(f"product-{sku}", 1, "ProductAdded", data, ctx, ctx[0], "user:carol")
        self._later(self._receive, 5 + int(self.rng.random() * 30), [i], [60 + int(self.rng.random() * 200)])

    def _change_price(self, i: int, new: float, ctx: tuple, actor: str, reason: str) -> str:
        old, self.price[i] = self.price[i], new
        self.pver[i] += 1
        return self._emit(f"product-{self.skus[i]}", self.pver[i], "PriceChanged", {
            "sku": self.skus[i], "old_price": old, "new_price": new, "currency": "EUR", "reason": reason},
            ctx, ctx[0], actor)

    def _nudged(self, i: int, factor: float) -> float:
        """A new shop price near ``price * factor`` that differs from the current one."""
        new = _price(self.price[i] * factor)
        return new if new != self.price[i] else _price(self.price[i] * 1.06 + 0.1)

    def _reprice_one(self) -> None:
        i = self._pick_product()
        if i in self.affected_set and self.incident_open:
            return self._place_order(self.rng.random() < 0.5)
        new = self._nudged(i, 0.92 + 0.16 * self.rng.random())
        actor = "user:alice" if self.rng.random() < 0.1 else "agent:pricing-bot"
        reason = "manual adjustment" if actor == "user:alice" else "competitor_match"
        ctx = self._cmd("ChangePrice", actor, {"sku": self.skus[i], "new_price": new}, reason=reason)
        self._change_price(i, new, ctx, actor, reason)

    def _nightly_reprice(self) -> None:
        k = max(1, min(25, len(self.orderable) // 100))
        idxs = sorted(set(self.rng.choice(self.orderable) for _ in range(k)))
        news = [self._nudged(i, 0.95 + 0.1 * self.rng.random()) for i in idxs]
        ctx = self._cmd("BulkReprice", "agent:pricing-bot", {
            "strategy": "nightly_competitor_sync", "feed": "pricewatch-eu",
            "prices": [{"sku": self.skus[i], "new_price": p} for i, p in zip(idxs, news)]},
            reason="nightly competitor sync")
        for i, p in zip(idxs, news):
            self._change_price(i, p, ctx, "agent:pricing-bot", "nightly_competitor_sync")

    # -- the incident ----------------------------------------------------------------------
    def _incident_start(self, day: int) -> None:
        idxs = self.affected
        ctx = self._cmd("BulkReprice", "agent:pricing-bot", {
            "strategy": "competitor_match", "feed": "pricewatch-eu", "multiplier": 0.1,
            "skus": [self.skus[i] for i in idxs]}, reason="competitor sync re-run after feed format update")
        for i in idxs:
            self.list_price[i] = self.price[i]
            self._change_price(i, round(self.price[i] / 10, 2), ctx, "agent:pricing-bot", "competitor_match")
        self.incident_open = True
        self.incident.update(day=day, date=(END - dt.timedelta(days=self.days - day)).date().isoformat(),
                             command_id=ctx[0], correlation_id=ctx[1], command_type="BulkReprice",
                             actor="agent:pricing-bot", skus=[self.skus[i] for i in idxs], price_changes=len(idxs))

    def _incident_fix(self) -> None:
        idxs = self.affected
        corr = self.incident["correlation_id"]
        ctx = self._cmd("RestorePrices", "user:alice", {
            "prices": [{"sku": self.skus[i], "new_price": self.list_price[i]} for i in idxs],
            "reverts_correlation_id": corr},
            reason=f"pricing-bot BulkReprice {corr} cut {len(idxs)} prices by 90%; "
                   f"fraud-watch flagged {len(self.wrong_orders)} orders; restoring list prices")
        for i in idxs:
            self._change_price(i, self.list_price[i], ctx, "user:alice", "manual_correction")
        self.incident_open = False
        self.incident.update(fix_command_id=ctx[0], fix_correlation_id=ctx[1], fix_actor="user:alice",
                             orders_at_wrong_prices=len(self.wrong_orders), orders=list(self.wrong_orders))

    # -- customers -------------------------------------------------------------------------
    def _person(self, n: int) -> dict[str, Any]:
        rng = self.rng
        f, l = rng.randrange(len(_FIRST)), rng.randrange(len(_LAST))
        return {"name": f"{_FIRST[f]} {_LAST[l]}", "email": f"{_FIRST_ASCII[f]}.{_LAST_ASCII[l]}{n % 97}@example.com"}

    def _address(self) -> dict[str, Any]:
        code, _, cities, street = self.rng.choice(_COUNTRIES)
        return {"street": f"{street} {1 + self.rng.randrange(180)}", "city": self.rng.choice(cities),
                "postcode": f"{self.rng.randrange(10000, 99999)}", "country": code}

    def _register(self) -> None:
        n = 1001 + len(self.cver)
        person = self._person(n)
        addr = self._address()
        cc = next(c[1] for c in _COUNTRIES if c[0] == addr["country"])
        data = {"customer_id": str(n), **person, "phone": f"+{cc} {self.rng.randrange(100, 999)} "
                f"{self.rng.randrange(1000000, 9999999)}", **addr, "marketing_opt_in": self.rng.random() < 0.4}
        ctx = self._cmd("RegisterCustomer", f"customer:{n}", {"email": person["email"], "name": person["name"]})
        self.cver.append(1)
        self._emit(f"customer-{n}", 1, "CustomerRegistered", data, ctx, ctx[0], f"customer:{n}")
        if self.rng.random() < 0.6:  # most sign up to buy something
            self._later(self._place_order, 2 + int(self.rng.random() * 30), self.incident_open, n)

    def _pick_customer(self) -> int:
        return 1001 + int(len(self.cver) * self.rng.random())

    def _customer_change(self) -> None:
        n = self._pick_customer()
        actor = f"customer:{n}"
        if self.rng.random() < 0.5:
            ctype, etype, data = "ChangeEmail", "CustomerEmailChanged", {"email": self._person(n)["email"]}
        else:
            ctype, etype, data = "ChangeAddress", "CustomerAddressChanged", self._address()
        data = {"customer_id": str(n), **data}
        ctx = self._cmd(ctype, actor, data)
        self.cver[n - 1001] += 1
        self._emit(f"customer-{n}", self.cver[n - 1001], etype, data, ctx, ctx[0], actor)

    def _adjust_balance(self) -> None:
        n = self._pick_customer()
        actor = "user:erin" if self.rng.random() < 0.2 else "agent:support-bot"
        reason = self.rng.choice(_GOODWILL)
        data = {"customer_id": str(n), "amount": float(self.rng.choice((5, 10, 15, 20))), "currency": "EUR"}
        ctx = self._cmd("AdjustCustomerBalance", actor, data, reason=reason)
        self.cver[n - 1001] += 1
        self._emit(f"customer-{n}", self.cver[n - 1001], "CustomerBalanceAdjusted", {**data, "reason": reason},
                   ctx, ctx[0], actor)

    # -- orders ----------------------------------------------------------------------------
    def _pick_product(self) -> int:
        return self.orderable[int(len(self.orderable) * self.rng.random() ** 1.6)]

    def _place_order(self, bargain: bool = False, customer: int | None = None) -> None:
        rng = self.rng
        n = customer or self._pick_customer()
        picks: dict[int, int] = {}
        if bargain and self.incident_open:
            picks[self.affected[int(len(self.affected) * rng.random())]] = 2 + int(rng.random() * 7)
        want = 1 + (rng.random() < 0.4) + (rng.random() < 0.15)
        for _ in range(8):
            if len(picks) >= want:
                break
            r = rng.random()
            picks.setdefault(self._pick_product(), 1 if r < 0.75 else 2 if r < 0.93 else 3 + int(rng.random() * 3))
        o = _Order()
        o.no, o.customer, o.ov, o.pv = self.next_order, n, 1, 1
        o.oid = str(o.no)
        self.next_order += 1
        o.lines = [(i, q, self.price[i]) for i, q in picks.items()]
        o.total = round(sum(q * p for _, q, p in o.lines), 2)
        o.method = rng.choice(_METHODS)
        actor = f"customer:{n}"
        lines = [{"sku": self.skus[i], "qty": q} for i, q, _ in o.lines]
        ctx = self._cmd("PlaceOrder", actor, {"customer_id": str(n), "lines": lines, "payment_method": o.method})
        o.ctx, o.corr = ctx, ctx[1]
        placed = self._emit(f"order-{o.oid}", 1, "OrderPlaced", {
            "order_id": o.oid, "customer_id": str(n),
            "lines": [{"sku": self.skus[i], "qty": q, "unit_price": p} for i, q, p in o.lines],
            "total": o.total, "currency": "EUR", "payment_method": o.method}, ctx, ctx[0], actor)
        self._emit(f"payment-{o.oid}", 1, "PaymentAuthorized", {
            "payment_id": o.oid, "order_id": o.oid, "amount": o.total, "currency": "EUR", "method": o.method,
            "provider_ref": "psp_%012x" % rng.getrandbits(48)}, ctx, placed, actor)
        self._later(self._reserve, 1 + int(rng.random() * 6), o, placed)
        if self.incident_open and not self.affected_set.isdisjoint(picks):
            self.wrong_orders.append(o.oid)
            self._later(self._flag, 2 + int(rng.random() * 8), o, placed, "price_below_cost", False)
        r = rng.random()
        if r < 0.012:
            self._later(self._flag, 2 + int(rng.random() * 8), o, placed, rng.choice(_FRAUD_RULES), True)
        elif r < 0.045:
            self._later(self._cancel, self._days(0.002, 0.03), o, actor, "customer changed mind")
        else:
            self._later(self._capture, self._days(0.003, 0.05), o)

    def _reserve(self, o: _Order, cause: str) -> None:
        for i, q, _ in o.lines:
            self.avail[i] -= q
            self.iver[i] += 1
            rid = self._emit(f"inventory-{self.skus[i]}", self.iver[i], "StockReserved", {
                "sku": self.skus[i], "qty": q, "order_id": o.oid, "available": self.avail[i]},
                o.ctx, cause, "agent:inventory-bot")
            if self.avail[i] < REORDER_POINT and not self.reorder_open[i]:
                self.reorder_open[i] = True
                self._later(self._reorder, 1 + int(self.rng.random() * 4), i, rid, o.ctx)

    def _reorder(self, i: int, cause: str, ctx: tuple) -> None:
        qty = self.rng.choice((100, 150, 200, 300))
        po = f"PO-{self._po()}"
        self.iver[i] += 1
        self._emit(f"inventory-{self.skus[i]}", self.iver[i], "ReorderRequested", {
            "sku": self.skus[i], "qty": qty, "supplier": f"SUP-{self.skus[i][:3]}", "purchase_order": po},
            ctx, cause, "agent:inventory-bot")
        self._later(self._receive, self._days(0.4, 1.5), [i], [qty], po)

    def _flag(self, o: _Order, cause: str, rule: str, hold: bool) -> None:
        data: dict[str, Any] = {"order_id": o.oid, "rule": rule, "score": round(0.55 + 0.4 * self.rng.random(), 2),
                                "action": "hold" if hold else "review"}
        if not hold:
            i = next(i for i, _, _ in o.lines if i in self.affected_set)
            data.update(sku=self.skus[i], unit_price=next(p for j, _, p in o.lines if j == i),
                        list_price=self.list_price[i])
        o.ov += 1
        self._emit(f"order-{o.oid}", o.ov, "OrderFlagged", data, o.ctx, cause, "agent:fraud-watch")
        if hold:
            self._later(self._cancel, self._days(0.01, 0.08), o, "agent:support-bot", f"fraud-watch hold: {rule}")

    def _capture(self, o: _Order) -> None:
        actor = "agent:fraud-watch"
        ctx = self._cmd("CapturePayment", actor, {"payment_id": o.oid, "order_id": o.oid, "amount": o.total},
                        corr=o.corr)
        o.pv += 1
        cap = self._emit(f"payment-{o.oid}", o.pv, "PaymentCaptured", {
            "payment_id": o.oid, "order_id": o.oid, "amount": o.total, "currency": "EUR"}, ctx, ctx[0], actor)
        o.ov += 1
        self._emit(f"order-{o.oid}", o.ov, "OrderPaid", {
            "order_id": o.oid, "payment_id": o.oid, "amount": o.total, "currency": "EUR"}, ctx, cap, actor)
        self._later(self._ship, self._days(0.15, 1.2), o)

    def _ship(self, o: _Order) -> None:
        actor = self.rng.choice(_WAREHOUSE)
        carrier = self.rng.choice(_CARRIERS)
        ctx = self._cmd("ShipOrder", actor, {"order_id": o.oid, "carrier": carrier}, corr=o.corr)
        o.ov += 1
        self._emit(f"order-{o.oid}", o.ov, "OrderShipped", {
            "order_id": o.oid, "carrier": carrier, "tracking_number": f"{carrier[:2].upper()}"
            f"{self.rng.randrange(10**11, 10**12)}", "parcels": 1 + (len(o.lines) > 2)}, ctx, ctx[0], actor)
        if self.rng.random() < 0.03:
            self._later(self._return, self._days(1.5, 6), o)

    def _return(self, o: _Order) -> None:
        actor = "user:erin" if self.rng.random() < 0.25 else "agent:support-bot"
        reason = self.rng.choice(_RETURN_REASONS)
        ctx = self._cmd("RefundOrder", actor, {"order_id": o.oid, "payment_id": o.oid, "amount": o.total},
                        reason=f"customer return: {reason}", corr=o.corr)
        o.ov += 1
        ret = self._emit(f"order-{o.oid}", o.ov, "OrderReturned", {
            "order_id": o.oid, "reason": reason,
            "lines": [{"sku": self.skus[i], "qty": q} for i, q, _ in o.lines]}, ctx, ctx[0], actor)
        o.pv += 1
        self._emit(f"payment-{o.oid}", o.pv, "PaymentRefunded", {
            "payment_id": o.oid, "order_id": o.oid, "amount": o.total, "currency": "EUR"}, ctx, ret, actor)
        for i, q, _ in o.lines:
            self.avail[i] += q
            self.iver[i] += 1
            self._emit(f"inventory-{self.skus[i]}", self.iver[i], "StockReceived", {
                "sku": self.skus[i], "qty": q, "order_id": o.oid, "location": "WH-1", "source": "return",
                "available": self.avail[i]}, ctx, ret, "agent:inventory-bot")

    def _cancel(self, o: _Order, actor: str, reason: str) -> None:
        ctx = self._cmd("CancelOrder", actor, {"order_id": o.oid}, reason=reason, corr=o.corr)
        o.ov += 1
        c = self._emit(f"order-{o.oid}", o.ov, "OrderCancelled", {"order_id": o.oid, "reason": reason},
                       ctx, ctx[0], actor)
        o.pv += 1
        self._emit(f"payment-{o.oid}", o.pv, "PaymentVoided", {
            "payment_id": o.oid, "order_id": o.oid, "amount": o.total, "currency": "EUR"}, ctx, c, actor)
        self._later(self._release, 1 + int(self.rng.random() * 5), o, c, ctx)

    def _release(self, o: _Order, cause: str, ctx: tuple) -> None:
        for i, q, _ in o.lines:
            self.avail[i] += q
            self.iver[i] += 1
            self._emit(f"inventory-{self.skus[i]}", self.iver[i], "StockReleased", {
                "sku": self.skus[i], "qty": q, "order_id": o.oid, "available": self.avail[i]},
                ctx, cause, "agent:inventory-bot")

    # -- the clock -------------------------------------------------------------------------
    def _spontaneous(self) -> None:
        r = self.rng.random()
        # a new shop: keep at most eight orders per registered customer so early buyers are many
        if 0.74 <= r < 0.88 or len(self.cver) * 8 < self.next_order - 100000:
            self._register()
        elif r < 0.74:
            self._place_order(self.incident_open and self.rng.random() < 0.5)
        elif r < 0.94:
            self._customer_change()
        elif r < 0.98:
            self._reprice_one()
        elif r < 0.998:
            self._adjust_balance()
        else:
            self._add_product()

    def _iso(self, us: int) -> str:
        day, rem = divmod(us, 86_400_000_000)
        prefix = self._prefix.get(day)
        if prefix is None:
            prefix = self._prefix[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat() + "T"
        h, rem = divmod(rem, 3_600_000_000)
        m, rem = divmod(rem, 60_000_000)
        s, f = divmod(rem, 1_000_000)
        return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{f:06d}Z"

    def _flush(self, day: int, hour: int) -> tuple[list[list[Any]], list[list[Any]]]:
        """Stamp the hour's rows with times spread over the hour, rising with position."""
        evs, cmds = self.evs, self.cmds
        self.evs, self.cmds = [], []
        if not evs:  # every command emits at least one event at once, so there are none either
            assert not cmds
            return evs, cmds
        base = self.t0_us + (day * 24 + hour) * 3_600_000_000
        step = 3_600_000_000 / len(evs)
        rnd = self.rng.random
        offsets = [int((j + 0.1 + 0.8 * rnd()) * step) for j in range(len(evs))]  # within the hour
        prefix = self._iso(base)[:14]  # "YYYY-MM-DDTHH:"
        for ev, off in zip(evs, offsets):
            m, rem = divmod(off, 60_000_000)
            ev[4] = f"{prefix}{m:02d}:{rem // 1_000_000:02d}.{rem % 1_000_000:06d}Z"
        for c in cmds:
            c[3] = self._iso(base + offsets[c[7]] - c[8])  # may fall in the previous hour
            del c[7:]
        self.first_us = self.first_us or base + offsets[0]
        self.last_us = base + offsets[-1]
        return evs, cmds

    def run(self, products: int, affected: int) -> Iterator[tuple[list[list[Any]], list[list[Any]]]]:
        rng, days = self.rng, self.days
        self._setup(products)
        self.affected = sorted(rng.sample(range(products), affected))
        self.affected_set = frozenset(self.affected)
        story_day = min(days - 1, round(days * 0.6))
        hooks: dict[tuple[int, int], list[tuple[float, Callable[[], None]]]] = {}
        for d in range(1, days):
            hooks[(d, 2)] = [(0.1, self._nightly_reprice)]
        hooks.setdefault((story_day, 9), []).append((0.2, lambda: self._incident_start(story_day)))
        for h in range(10, 15):  # a few bargain hunters at every size; bigger stores add many more
            hooks.setdefault((story_day, h), []).append((0.5, lambda: self._place_order(True)))
        hooks[(story_day, 14)].append((0.8, self._incident_fix))
        start_weekday = (END - dt.timedelta(days=days)).weekday()
        weights = [[_WEEKDAYS[(start_weekday + d) % 7] * (1 + 0.2 * d / days) * (0.9 + 0.2 * rng.random()) * w
                    for w in _HOURS] for d in range(days)]
        scale = max(0, self.total - self.emitted) / sum(map(sum, weights))
        goal = float(self.emitted)
        for day in range(days):
            for hour in range(24):
                planned = weights[day][hour] * scale
                goal += planned
                target = self.total if (day, hour) == (days - 1, 23) else goal
                todo = sorted(hooks.get((day, hour), []), key=lambda h: h[0])
                start = self.emitted
                while self.emitted < target:
                    if todo and self.emitted - start >= todo[0][0] * planned:
                        todo.pop(0)[1]()
                    elif self.heap and self.heap[0][0] <= self.emitted:
                        _, _, fn, args = heapq.heappop(self.heap)
                        fn(*args)
                    else:
                        self._spontaneous()
                for _, hook in todo:
                    hook()
                yield self._flush(day, hour)


_EVENT_SQL = (f"INSERT INTO {ownstore.EVENTS_TABLE} (event_id, stream, version, type, recorded_at, data, metadata,"
              " causation_id, correlation_id, actor) VALUES (?,?,?,?,?,?,?,?,?,?)")
_COMMAND_SQL = (f"INSERT INTO {ownstore.COMMANDS_TABLE} (command_id, type, actor, issued_at, payload, correlation_id,"
                " reason) VALUES (?,?,?,?,?,?,?)")


def create_demo(
    path: str | Path,
    events: int = 50_000,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    days: int = 30,
) -> DemoSummary:
    """Write the demo store to ``path``, replacing any file there: about ``events`` events over
    ``days`` days ending 2026-10-31, the same rows for the same arguments. ``progress(done, total)``
    is called after every chunk of rows written (``total`` is ``events``) and once at the end.

    The store is built next to ``path`` under a temporary name and moved into place when complete,
    so a failed or interrupted build never leaves a half-written demo behind."""
    if events < MIN_EVENTS:
        raise ValueError(f"events must be at least {MIN_EVENTS}, got {events}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    try:
        shop, incident = _build(building, events, seed, progress, days)
        for suffix in ("-journal", "-wal", "-shm"):  # a previous store's leftovers must not pair with the new file
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        building.replace(path)
    except BaseException:
        building.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(events, events)
    return DemoSummary(
        path=path,
        events=shop.emitted,
        commands=shop.commands,
        streams=shop.streams,
        first_time=_EPOCH + dt.timedelta(microseconds=shop.first_us),
        last_time=_EPOCH + dt.timedelta(microseconds=shop.last_us),
        incident=incident,
    )


def _build(
    path: Path, events: int, seed: int, progress: Callable[[int, int], None] | None, days: int
) -> tuple[_Shop, dict[str, Any]]:
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(path)))
    try:
        with engine.begin() as conn:
            ownstore.create_schema(conn, indexes=False)  # indexes once, after the load
    finally:
        engine.dispose()

    shop = _Shop(Random(seed), events, days)
    products = max(12, min(2000, events // 250))
    affected = max(5, min(40, events // 1250, products // 2))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        # A throwaway build: no journal, no syncs; a second sorter thread for CREATE INDEX.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "cache_size=-65536",
                       "threads=2"):
            db.execute(f"PRAGMA {pragma}")
        ev_rows: list[list[Any]] = []
        cmd_rows: list[list[Any]] = []
        written = 0

        def write() -> None:
            nonlocal written, ev_rows, cmd_rows
            db.execute("BEGIN")
            db.executemany(_EVENT_SQL, ev_rows)
            db.executemany(_COMMAND_SQL, cmd_rows)
            db.execute("COMMIT")
            written += len(ev_rows)
            ev_rows, cmd_rows = [], []
            if progress is not None:
                progress(min(written, events), events)

        for evs, cmds in shop.run(products, affected):
            ev_rows += evs
            cmd_rows += cmds
            if len(ev_rows) >= CHUNK:
                write()
        if ev_rows or cmd_rows:
            write()

        dialect = sqlite_dialect.dialect()
        db.execute("BEGIN")
        for table in ownstore.metadata.sorted_tables:
            for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
                db.execute(str(CreateIndex(index).compile(dialect=dialect)))
        info = {"layout": ownstore.LAYOUT, "schema_version": ownstore.SCHEMA_VERSION,
                "created_by": f"inspector {__version__} demo", "seed": seed, "events": shop.emitted, "days": days,
                "requested_events": events}
        db.executemany(f"INSERT INTO {ownstore.STORE_INFO_TABLE} (key, value) VALUES (?, ?)",
                       [(k, str(v)) for k, v in info.items()])
        db.execute("COMMIT")
        # full statistics (under a second per million rows): with sampled ones SQLite scans the table
        # through the type index for the timeline instead of the covering (recorded_at, type) index
        db.execute("ANALYZE")
        incident = dict(shop.incident)
        for key, corr in (("started_at", incident["correlation_id"]), ("fixed_at", incident["fix_correlation_id"])):
            incident[key] = db.execute(f"SELECT min(recorded_at) FROM {ownstore.EVENTS_TABLE} WHERE correlation_id = ?",
                                       (corr,)).fetchone()[0]
        db.execute("PRAGMA locking_mode=NORMAL")
        db.execute("PRAGMA journal_mode=DELETE")
    finally:
        db.close()
    return shop, incident
