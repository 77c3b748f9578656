"""The demo shop's personal data (``inspector.core.demo``): customers' names and contact details in
the customer events and the commands that caused them, and the client address and browser the
shop records in the metadata of customers' and staff's own events. Customer ids and actors
(``customer:1001``) stay visible: they are the pseudonyms an audit follows."""

from __future__ import annotations

from inspector.core.roles import MaskRule
from inspector.plugins.hookspecs import hookimpl

ADDRESS = ("street", "city", "postcode")

SHOP_RULES = (
    MaskRule(types=("CustomerRegistered", "RegisterCustomer"), fields=("name", "email", "phone", *ADDRESS),
             why="the customer's name, e-mail address, phone number and postal address"),
    MaskRule(types=("CustomerEmailChanged", "ChangeEmail"), fields=("email",), why="the customer's new e-mail address"),
    MaskRule(types=("CustomerAddressChanged", "ChangeAddress"), fields=ADDRESS, why="the customer's new postal address"),
    MaskRule(metadata=("ip", "user_agent"), why="the client's IP address and browser (customers and staff)"),
)


@hookimpl
def register_masking_rules():
    """Customers' names, contact details and postal addresses; clients' IP addresses and browsers."""
    return list(SHOP_RULES)
