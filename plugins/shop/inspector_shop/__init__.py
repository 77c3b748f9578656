"""First-party plugin for the bundled demo shop (``inspector.core.demo``): its read models as
projections, so the temporal slider shows the catalogue, the orders and the customers' balances
as of any moment (the pricing-bot incident included).

Rows are keyed by the id in the stream name (``product-KIT0001`` and ``inventory-KIT0001`` are
product ``KIT0001``; ``order-100001`` is order ``100001``; ``customer-1001`` is customer ``1001``).
Each projection lists its event types so a build reads only those from SQL."""

from __future__ import annotations

from typing import Any

from inspector.core.model import RecordedEvent
from inspector.core.projection import Projection, State
from inspector.plugins.hookspecs import hookimpl

from .compensations import propose_compensations, register_commands  # noqa: F401
from .masking import register_masking_rules  # noqa: F401


def _stream_id(e: RecordedEvent, *categories: str) -> str | None:
    """The id part of ``<category>-<id>`` when the stream is of one of ``categories``."""
    category, sep, rest = (e.stream or "").partition("-")
    return rest if sep and rest and category in categories else None


def _data(e: RecordedEvent) -> dict[str, Any]:
    return e.data if isinstance(e.data, dict) else {}


# -- products: the catalogue with prices and stock ----------------------------------------------

PRODUCT_TYPES = ("ProductAdded", "PriceChanged", "StockReceived", "StockReserved", "StockReleased")


def _product_key(e: RecordedEvent) -> str | None:
    return _stream_id(e, "product", "inventory") if e.type in PRODUCT_TYPES else None


def _product_apply(state: State, e: RecordedEvent) -> State:
    d, new = _data(e), dict(state)
    if e.type == "ProductAdded":
        new.update(name=d.get("name"), category=d.get("category"), price=d.get("price"), currency=d.get("currency"))
    elif e.type == "PriceChanged":
        new.update(price=d.get("new_price"), currency=d.get("currency", new.get("currency")),
                   price_reason=d.get("reason"))
    else:  # the inventory events carry the quantity available after them
        new["stock"] = d.get("available", new.get("stock"))
    return new


PRODUCTS = Projection(
    name="products",
    title="Products",
    key=_product_key,
    apply=_product_apply,
    types=PRODUCT_TYPES,
    description="One row per SKU: name, category, price and currency from the catalogue events, the reason of "
                "the last price change, and the stock available from the inventory events.",
)


# -- orders ---------------------------------------------------------------------------------------

ORDER_TYPES = ("OrderPlaced", "OrderPaid", "OrderShipped", "OrderCancelled", "OrderReturned", "OrderFlagged")
_STATUS = {"OrderPlaced": "placed", "OrderPaid": "paid", "OrderShipped": "shipped", "OrderCancelled": "cancelled",
           "OrderReturned": "returned"}


def _order_key(e: RecordedEvent) -> str | None:
    return _stream_id(e, "order") if e.type in ORDER_TYPES else None


def _order_apply(state: State, e: RecordedEvent) -> State:
    d, new = _data(e), dict(state)
    if e.type == "OrderPlaced":
        lines = d.get("lines") if isinstance(d.get("lines"), list) else []
        new.update(status="placed", customer=d.get("customer_id"), total=d.get("total"), currency=d.get("currency"),
                   lines=len(lines), items=sum(int(line.get("qty") or 0) for line in lines if isinstance(line, dict)),
                   payment_method=d.get("payment_method"), placed_at=e.recorded_at)
    elif e.type == "OrderFlagged":
        new.update(flagged=True, flag_rule=d.get("rule"), flag_action=d.get("action"))
    else:
        new["status"] = _STATUS[e.type]
        if e.type == "OrderShipped":
            new["carrier"] = d.get("carrier")
        elif e.type in ("OrderCancelled", "OrderReturned"):
            new["status_reason"] = d.get("reason")
    return new


ORDERS = Projection(
    name="orders",
    title="Orders",
    key=_order_key,
    apply=_order_apply,
    types=ORDER_TYPES,
    description="One row per order: status, customer, total, number of lines and items, payment method, when it "
                "was placed, carrier, and the fraud flag if any.",
)


# -- customer balances --------------------------------------------------------------------------

BALANCE_TYPES = ("CustomerRegistered", "CustomerBalanceAdjusted", "OrderPlaced")


def _customer_key(e: RecordedEvent) -> str | None:
    if e.type == "OrderPlaced":
        customer = _data(e).get("customer_id")
        return str(customer) if customer is not None else None
    return _stream_id(e, "customer") if e.type in BALANCE_TYPES else None


def _customer_apply(state: State, e: RecordedEvent) -> State:
    d = _data(e)
    new = dict(state) if state else {"name": None, "balance": 0.0, "currency": "EUR", "adjustments": 0,
                                      "orders": 0, "ordered": 0.0}
    if e.type == "CustomerRegistered":
        new["name"] = d.get("name")
    elif e.type == "CustomerBalanceAdjusted":
        new["balance"] = round(new["balance"] + float(d.get("amount") or 0), 2)
        new["currency"] = d.get("currency", new["currency"])
        new["adjustments"] += 1
        new["last_reason"] = d.get("reason")
    else:  # OrderPlaced
        new["orders"] += 1
        new["ordered"] = round(new["ordered"] + float(d.get("total") or 0), 2)
    return new


CUSTOMER_BALANCES = Projection(
    name="customer_balances",
    title="Customer balances",
    key=_customer_key,
    apply=_customer_apply,
    types=BALANCE_TYPES,
    description="One row per customer: the store credit granted by balance adjustments (balance, how many, the "
                "last reason) and what the customer ordered (orders, ordered total). The demo's payment and refund "
                "events name the order but not the customer, so a per-event key cannot book them here.",
)


@hookimpl
def register_projections():
    """The demo shop's read models: products, orders, customer balances."""
    return [PRODUCTS, ORDERS, CUSTOMER_BALANCES]


# the hooks pluggy finds here (the first three live in .compensations and .masking)
__all__ = ["propose_compensations", "register_commands", "register_masking_rules", "register_projections"]
