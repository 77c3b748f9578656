"""The demo shop's compensating commands, and the compensation it proposes for a replay plan.

Commands append events in the shapes the demo itself writes (``inspector.core.demo``), so the
shop's projections fold them like the shop's own: RestorePrice (``PriceChanged`` on
``product-<sku>``), CancelOrder (``OrderCancelled`` on ``order-<id>``), RefundPayment
(``PaymentRefunded`` on ``payment-<id>``), RestockItem (``StockReceived`` on ``inventory-<sku>``)
and AdjustBalance (``CustomerBalanceAdjusted`` on ``customer-<id>``).

What is proposed: prices only. For every product whose price the plan's left-out
``PriceChanged`` events changed, a RestorePrice to the row the plan's target has (price, currency
and the reason of the price change it would keep, so the products read model lands exactly on the
target), compensating those events. Everything else the plan leaves out (orders, payments, stock,
customers) gets a note instead: those are facts with a customer, a payment provider or a warehouse
behind them, and cancelling, refunding or restocking is a business decision, not arithmetic."""

from __future__ import annotations

import decimal
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping

from inspector.core.checkpoints import ReplayError
from inspector.core.commands import CommandField, CommandSpec, CompensationNote, ProposedEvent, ProposedStep
from inspector.plugins.hookspecs import hookimpl

PLUGIN = "shop"
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
#: Every event type the demo shop writes (a plan with none of them is not this plugin's business).
SHOP_TYPES = frozenset((
    "ProductAdded", "PriceChanged", "StockReceived", "StockReserved", "StockReleased", "ReorderRequested",
    "CustomerRegistered", "CustomerEmailChanged", "CustomerAddressChanged", "CustomerBalanceAdjusted",
    "OrderPlaced", "OrderPaid", "OrderShipped", "OrderCancelled", "OrderReturned", "OrderFlagged",
    "PaymentAuthorized", "PaymentCaptured", "PaymentRefunded", "PaymentVoided",
))
#: The products fields a RestorePrice sets; any other difference (stock, name...) it cannot reach.
PRICE_FIELDS = ("price", "currency", "price_reason")
#: Why each kind of left-out event gets no proposal (by stream category).
WHY_NOT = {
    "order": "orders were placed by customers and may be paid, shipped or flagged since; cancelling one is a "
             "decision for support (CancelOrder, with RefundPayment where money was taken)",
    "payment": "payments are money moved at the payment provider; a refund is a decision for finance "
               "(RefundPayment)",
    "inventory": "stock events record goods that moved in the warehouse; a correction needs a count "
                 "(RestockItem with the counted quantity)",
    "customer": "customer records and balances belong to the customer; a goodwill credit is a decision for "
                "support (AdjustBalance)",
    "product": "catalogue entries other than prices are not compensated automatically",
}


# -- field checks ---------------------------------------------------------------------------------


def _ident(value: Any) -> str | None:
    """Why ``value`` cannot be the id part of a stream name (None: it can)."""
    if not isinstance(value, str) or not value:
        return "required"
    if any(c.isspace() for c in value):
        return "no spaces allowed"
    return None


def _errors(**checks: str | None) -> dict[str, str]:
    return {k: v for k, v in checks.items() if v}


def _positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "must be greater than 0"


def _not_negative(v: Any) -> str | None:
    return None if v is None or v >= 0 else "must not be negative"


# -- the commands ---------------------------------------------------------------------------------

_SKU = CommandField("sku", "SKU", help="the product's SKU, as in product-<SKU>")
_CURRENCY = CommandField("currency", "Currency", "choice", choices=CURRENCIES)

RESTORE_PRICE = CommandSpec(
    name="RestorePrice",
    title="Restore a price",
    description="Set a product's price back (a PriceChanged on product-<sku>, as the shop writes it).",
    fields=(
        _SKU,
        CommandField("price", "New price", "decimal", help="the price to set"),
        _CURRENCY,
        CommandField("reason", "Price reason", required=False,
                     help="the reason the product's price shows (products.price_reason); empty: none"),
        CommandField("old_price", "Price being replaced", "decimal", required=False,
                     help="the price now, recorded in the event as old_price"),
    ),
    stream=lambda v: f"product-{v['sku']}",
    events=lambda v: [ProposedEvent("PriceChanged", {
        "sku": v["sku"], "old_price": v.get("old_price"), "new_price": v["price"], "currency": v["currency"],
        "reason": v.get("reason")})],
    validate=lambda v: _errors(sku=_ident(v["sku"]), price=_not_negative(v["price"]),
                               old_price=_not_negative(v.get("old_price"))),
)

CANCEL_ORDER = CommandSpec(
    name="CancelOrder",
    title="Cancel an order",
    description="Cancel an order (an OrderCancelled on order-<id>). Payment and stock are separate steps: "
                "RefundPayment, RestockItem.",
    fields=(
        CommandField("order_id", "Order", help="the order id, as in order-<id>"),
        CommandField("reason", "Reason", help="why it is cancelled (shown as the order's status reason)"),
    ),
    stream=lambda v: f"order-{v['order_id']}",
    events=lambda v: [ProposedEvent("OrderCancelled", {"order_id": v["order_id"], "reason": v["reason"]})],
    validate=lambda v: _errors(order_id=_ident(v["order_id"])),
)

REFUND_PAYMENT = CommandSpec(
    name="RefundPayment",
    title="Refund a payment",
    description="Refund money taken for an order (a PaymentRefunded on payment-<id>).",
    fields=(
        CommandField("payment_id", "Payment", help="the payment id, as in payment-<id> (the demo uses the order id)"),
        CommandField("order_id", "Order", help="the order the payment belongs to"),
        CommandField("amount", "Amount", "decimal"),
        _CURRENCY,
        CommandField("reason", "Reason", required=False),
    ),
    stream=lambda v: f"payment-{v['payment_id']}",
    events=lambda v: [ProposedEvent("PaymentRefunded", {
        "payment_id": v["payment_id"], "order_id": v["order_id"], "amount": v["amount"], "currency": v["currency"],
        **({"reason": v["reason"]} if v.get("reason") else {})})],
    validate=lambda v: _errors(payment_id=_ident(v["payment_id"]), order_id=_ident(v["order_id"]),
                               amount=_positive(v["amount"])),
)

RESTOCK_ITEM = CommandSpec(
    name="RestockItem",
    title="Restock an item",
    description="Put goods back into stock (a StockReceived on inventory-<sku>). ``available`` is the quantity "
                "available after it, as every inventory event of the shop records.",
    fields=(
        _SKU,
        CommandField("qty", "Quantity", "int"),
        CommandField("available", "Available after", "int", help="stock available once these are back"),
        CommandField("location", "Location", required=False, help="warehouse location (default WH-1)"),
        CommandField("order_id", "Order", required=False, help="the order the goods come back from, if any"),
        CommandField("reason", "Reason", required=False),
    ),
    stream=lambda v: f"inventory-{v['sku']}",
    events=lambda v: [ProposedEvent("StockReceived", {
        "sku": v["sku"], "qty": v["qty"], "location": v.get("location") or "WH-1", "source": "correction",
        "available": v["available"], **({"order_id": v["order_id"]} if v.get("order_id") else {}),
        **({"reason": v["reason"]} if v.get("reason") else {})})],
    validate=lambda v: _errors(sku=_ident(v["sku"]), qty=_positive(v["qty"]),
                               order_id=_ident(v["order_id"]) if v.get("order_id") else None),
)

ADJUST_BALANCE = CommandSpec(
    name="AdjustBalance",
    title="Adjust a customer's balance",
    description="Credit (or, negative, debit) a customer's store balance (a CustomerBalanceAdjusted on "
                "customer-<id>).",
    fields=(
        CommandField("customer_id", "Customer", help="the customer id, as in customer-<id>"),
        CommandField("amount", "Amount", "decimal", help="positive credits, negative debits"),
        _CURRENCY,
        CommandField("reason", "Reason"),
    ),
    stream=lambda v: f"customer-{v['customer_id']}",
    events=lambda v: [ProposedEvent("CustomerBalanceAdjusted", {
        "customer_id": v["customer_id"], "amount": v["amount"], "currency": v["currency"], "reason": v["reason"]})],
    validate=lambda v: _errors(customer_id=_ident(v["customer_id"]),
                               amount="must not be 0" if v["amount"] == 0 else None),
)

COMMANDS = (RESTORE_PRICE, CANCEL_ORDER, REFUND_PAYMENT, RESTOCK_ITEM, ADJUST_BALANCE)


@hookimpl
def register_commands():
    """The demo shop's compensating commands: RestorePrice, CancelOrder, RefundPayment, RestockItem, AdjustBalance."""
    return list(COMMANDS)


# -- proposing ------------------------------------------------------------------------------------


def _category_id(stream: str | None) -> tuple[str, str]:
    category, sep, rest = (stream or "").partition("-")
    return (category, rest) if sep and rest else ("", "")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return decimal.Decimal(str(a)) == decimal.Decimal(str(b))
    return a == b


def _differs(head: Mapping[str, Any] | None, target: Mapping[str, Any] | None, fields: Iterable[str]) -> list[str]:
    head, target = head or {}, target or {}
    return [f for f in fields if not _same(head.get(f), target.get(f))]


def _run_name(refs: Iterable[Any]) -> str:
    """"agent:pricing-bot's run <correlation>" for the left-out events of one product."""
    refs = list(refs)
    actors = sorted({r.actor for r in refs if r.actor})
    runs = sorted({r.correlation_id for r in refs if r.correlation_id})
    who = " and ".join(actors) if actors else "an unknown actor"
    if len(runs) == 1:
        return f"{who}'s run {runs[0]}"
    if runs:
        return f"{who}'s runs {', '.join(runs)}"
    return f"{who}'s events {', '.join(str(r.event_id or r.position) for r in refs)}"


def _counted(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {t}" for t, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


@hookimpl
def propose_compensations(plan, context):
    """RestorePrice for every product whose price the plan's left-out PriceChanged events changed;
    notes for the rest of the shop's events it leaves out."""
    by_type = dict(plan.dropped.by_type)
    if not SHOP_TYPES.intersection(by_type):
        return []  # not a shop store, or nothing of the shop's left out
    out: list[Any] = []
    if by_type.get("PriceChanged"):
        out.extend(_restore_prices(plan, context))
    out.extend(_not_compensated(plan, by_type))
    return out


def _restore_prices(plan, context) -> list[Any]:
    try:
        diff = plan.projection("products")
    except ReplayError:  # the plan was made without the products read model
        return [CompensationNote(
            "the plan leaves out PriceChanged events but holds no diff of the products read model, so the prices "
            "to restore are unknown: preview again with the products projection", PLUGIN)]
    if diff.capped or diff.method == "not_computed":
        why = "lists only part of its changes" if diff.capped else f"was not computed ({diff.note})"
        return [CompensationNote(f"the plan's products diff {why}, so the prices to restore are unknown: preview a "
                                 "smaller selection", PLUGIN)]
    refs: dict[str, list[Any]] = defaultdict(list)
    for r in plan.dropped.events:
        category, sku = _category_id(r.stream)
        if r.type == "PriceChanged" and category == "product" and r.event_id:
            refs[sku].append(r)
    out: list[Any] = []
    listed = sum(len(v) for v in refs.values())
    if plan.dropped.capped or listed < dict(plan.dropped.by_type).get("PriceChanged", 0):
        out.append(CompensationNote(
            f"the plan lists {listed} of its {dict(plan.dropped.by_type)['PriceChanged']} left-out PriceChanged "
            "events (the rest have no id or are beyond the plan's list): prices are restored only for the products "
            "of the listed ones; preview a smaller selection to cover all", PLUGIN))
    at_target, other_fields = [], []
    for sku in sorted(refs):
        try:
            head = context.head_row("products", sku)
            target = context.target_row("products", sku)
        except Exception as e:  # noqa: BLE001 - a context that cannot read this row: say so, propose the rest
            out.append(CompensationNote(f"product {sku}: its row could not be read ({e}); no price restored", PLUGIN))
            continue
        run = _run_name(refs[sku])
        if target is None or target.get("price") is None:
            out.append(CompensationNote(
                f"product {sku}: without {run} the product would have no price (its catalogue entry is left out "
                "too), so there is no price to restore", PLUGIN))
            continue
        extra = _differs(head, target, sorted((set(head or {}) | set(target)) - set(PRICE_FIELDS)))
        if extra:
            other_fields.append(f"{sku} ({', '.join(extra)})")
        if not _differs(head, target, PRICE_FIELDS):
            at_target.append(sku)
            continue
        ids = tuple(r.event_id for r in sorted(refs[sku], key=lambda r: r.position))
        currency = target.get("currency") or (head or {}).get("currency") or "EUR"
        values = {"sku": sku, "price": target["price"], "currency": currency, "reason": target.get("price_reason"),
                  "old_price": (head or {}).get("price")}
        out.append(ProposedStep(
            "RestorePrice", values, ids,
            f"undo {run}: its {len(ids)} PriceChanged on product-{sku} left the price at "
            f"{values['old_price']} {(head or {}).get('currency') or currency}; restore {target['price']} {currency}"))
    if any(isinstance(o, ProposedStep) for o in out):
        out.append(CompensationNote(
            "RestorePrice sets prices from now on: orders already placed at the prices being restored keep the unit "
            "prices they were placed at (a replay without the run keeps them too); review them (fraud-watch flags "
            "orders below cost) and add CancelOrder / RefundPayment steps by hand where the business wants them",
            PLUGIN))
    if at_target:
        out.append(CompensationNote(
            f"{len(at_target)} product(s) whose price the plan's left-out events changed already have the price "
            f"the plan would leave them with (a later change restored it): {', '.join(at_target)}; nothing to "
            "propose for them", PLUGIN))
    if other_fields:
        out.append(CompensationNote(
            "RestorePrice sets prices only; these products also differ from the plan's result in fields it cannot "
            f"reach: {'; '.join(other_fields)}", PLUGIN))
    return out


def _not_compensated(plan, by_type: Mapping[str, int]) -> list[CompensationNote]:
    """One note per stream category of left-out shop events that get no proposal."""
    uncovered = {t: n for t, n in by_type.items() if t in SHOP_TYPES and t != "PriceChanged"}
    if not uncovered:
        return []
    cats: dict[str, Counter] = defaultdict(Counter)
    for r in plan.dropped.events:
        if r.type in uncovered:
            cats[_category_id(r.stream)[0] or "(other)"][r.type] += 1
    counted = Counter()
    for c in cats.values():
        counted.update(c)
    beyond = Counter({t: n - counted.get(t, 0) for t, n in uncovered.items() if n > counted.get(t, 0)})
    out = []
    for cat in sorted(cats):
        why = WHY_NOT.get(cat, "the shop plugin knows no compensation for them")
        out.append(CompensationNote(
            f"no compensation proposed for the left-out {_counted(cats[cat])} ({cat} streams): {why}. Add steps by "
            "hand where the business wants them.", PLUGIN))
    if beyond:
        out.append(CompensationNote(
            f"no compensation proposed for {_counted(beyond)} more left-out events beyond the plan's list of "
            "events; review them before submitting", PLUGIN))
    return out
