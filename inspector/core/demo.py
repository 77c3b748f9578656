"""The bundled demo store: a month of an online shop run partly by AI agents, written in the
inspector's own layout, with one incident worth finding."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any, Callable, Iterator

from .. import __version__
from . import ownstore
from .demo_catalog import (ADJECTIVES, CARRIERS, CATEGORIES, COUNTRIES, FIRST_ASCII, FIRST_NAMES, FRAUD_RULES,
                           GOODWILL_REASONS, HOUR_WEIGHTS, LAST_ASCII, LAST_NAMES, PAYMENT_METHODS, REORDER_POINT,
                           RETURN_REASONS, WAREHOUSE_STAFF, WEEKDAY_WEIGHTS, shop_price)
from .demo_journal import BulkWriter, Hooks, Journal, Rows

UTC = dt.timezone.utc
#: Exclusive end of the demo month: its last day is 2026-10-31 whatever ``days`` is.
END = dt.datetime(2026, 11, 1, tzinfo=UTC)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MIN_EVENTS = 200  # below this the catalog set-up and the incident alone would overshoot


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


class _Shop(Journal):
    """The shop, a small discrete simulation: spontaneous activities (a customer orders, registers,
    an agent reprices...) interleave with follow-ups (stock reservations, payment capture, shipping,
    returns). ``run`` yields, per hour of shop time, the event rows and command rows (lists in insert
    column order) generated during that hour. Everything draws from one ``random.Random(seed)``, so
    a (seed, events, days) triple always gives the same file.

    The incident: on one day in the middle of the month ``agent:pricing-bot`` runs a ``BulkReprice``
    command that cuts the prices of a few dozen products by 90%. Customers order at those prices,
    ``agent:inventory-bot`` reserves (and reorders) stock for them, ``agent:fraud-watch`` flags them,
    and hours later ``user:alice`` restores the prices. The orders stay."""

    def __init__(self, rng: Random, events: int, days: int) -> None:
        super().__init__(rng, events / days, int((END - dt.timedelta(days=days)).timestamp()) * 1_000_000)
        self.total, self.days = events, days
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

    # -- catalog, stock and prices ---------------------------------------------------------
    def _setup(self, products: int) -> None:
        rng = self.rng
        for c, (code, category, nouns, lo, hi) in enumerate(CATEGORIES):
            idxs = []
            for _ in range(c, products, len(CATEGORIES)):
                sku = f"{code}{len(idxs) + 1:04d}"
                idxs.append(self._new_product(sku, f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)}",
                                              shop_price(lo * (hi / lo) ** rng.random())))
            if not idxs:
                continue
            ctx = self._cmd("ImportCatalog", "user:carol", {"category": category, "source": "catalog-2026-10.csv",
                                                            "products": len(idxs)}, reason="initial catalog import")
            for i in idxs:
                self.pver[i] = 1
                self._emit(f"product-{self.skus[i]}", 1, "ProductAdded", {
                    "sku": self.skus[i], "name": self.names[i], "category": category,
                    "price": self.price[i], "currency": "EUR"}, ctx, ctx[0], "user:carol")
        for c in range(len(CATEGORIES)):
            idxs = list(range(c, products, len(CATEGORIES)))
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
        actor = self.rng.choice(WAREHOUSE_STAFF)
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
        code, category, nouns, lo, hi = self.rng.choice(CATEGORIES)
        sku = f"{code}{sum(s.startswith(code) for s in self.skus) + 1:04d}"
        i = self._new_product(sku, f"{self.rng.choice(ADJECTIVES)} {self.rng.choice(nouns)}",
                              shop_price(lo * (hi / lo) ** self.rng.random()))
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
        new = shop_price(self.price[i] * factor)
        return new if new != self.price[i] else shop_price(self.price[i] * 1.06 + 0.1)

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
        f, l = rng.randrange(len(FIRST_NAMES)), rng.randrange(len(LAST_NAMES))
        return {"name": f"{FIRST_NAMES[f]} {LAST_NAMES[l]}",
                "email": f"{FIRST_ASCII[f]}.{LAST_ASCII[l]}{n % 97}@example.com"}

    def _address(self) -> dict[str, Any]:
        code, _, cities, street = self.rng.choice(COUNTRIES)
        return {"street": f"{street} {1 + self.rng.randrange(180)}", "city": self.rng.choice(cities),
                "postcode": f"{self.rng.randrange(10000, 99999)}", "country": code}

    def _register(self) -> None:
        n = 1001 + len(self.cver)
        person = self._person(n)
        addr = self._address()
        cc = next(c[1] for c in COUNTRIES if c[0] == addr["country"])
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
        reason = self.rng.choice(GOODWILL_REASONS)
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
        o.method = rng.choice(PAYMENT_METHODS)
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
            self._later(self._flag, 2 + int(rng.random() * 8), o, placed, rng.choice(FRAUD_RULES), True)
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
        actor = self.rng.choice(WAREHOUSE_STAFF)
        carrier = self.rng.choice(CARRIERS)
        ctx = self._cmd("ShipOrder", actor, {"order_id": o.oid, "carrier": carrier}, corr=o.corr)
        o.ov += 1
        self._emit(f"order-{o.oid}", o.ov, "OrderShipped", {
            "order_id": o.oid, "carrier": carrier, "tracking_number": f"{carrier[:2].upper()}"
            f"{self.rng.randrange(10**11, 10**12)}", "parcels": 1 + (len(o.lines) > 2)}, ctx, ctx[0], actor)
        if self.rng.random() < 0.03:
            self._later(self._return, self._days(1.5, 6), o)

    def _return(self, o: _Order) -> None:
        actor = "user:erin" if self.rng.random() < 0.25 else "agent:support-bot"
        reason = self.rng.choice(RETURN_REASONS)
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

    def run(self, products: int, affected: int) -> Iterator[tuple[Rows, Rows]]:
        rng, days = self.rng, self.days
        self._setup(products)
        self.affected = sorted(rng.sample(range(products), affected))
        self.affected_set = frozenset(self.affected)
        story_day = min(days - 1, round(days * 0.6))
        hooks: Hooks = {}
        for d in range(1, days):
            hooks[(d, 2)] = [(0.1, self._nightly_reprice)]
        hooks.setdefault((story_day, 9), []).append((0.2, lambda: self._incident_start(story_day)))
        for h in range(10, 15):  # a few bargain hunters at every size; bigger stores add many more
            hooks.setdefault((story_day, h), []).append((0.5, lambda: self._place_order(True)))
        hooks[(story_day, 14)].append((0.8, self._incident_fix))
        start_weekday = (END - dt.timedelta(days=days)).weekday()
        weights = [[WEEKDAY_WEIGHTS[(start_weekday + d) % 7] * (1 + 0.2 * d / days) * (0.9 + 0.2 * rng.random()) * w
                    for w in HOUR_WEIGHTS] for d in range(days)]
        yield from self._clock(self.total, weights, hooks)


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
    with BulkWriter(path, events, progress) as writer:
        shop = _Shop(Random(seed), events, days)
        products = max(12, min(2000, events // 250))
        affected = max(5, min(40, events // 1250, products // 2))
        for evs, cmds in shop.run(products, affected):
            writer.add(evs, cmds)
        writer.finish({"layout": ownstore.LAYOUT, "schema_version": ownstore.SCHEMA_VERSION,
                       "created_by": f"inspector {__version__} demo", "seed": seed, "events": shop.emitted,
                       "days": days, "requested_events": events})
        incident = dict(shop.incident)
        for key, corr in (("started_at", incident["correlation_id"]), ("fixed_at", incident["fix_correlation_id"])):
            incident[key] = writer.first_recorded_at(corr)
    return shop, incident
