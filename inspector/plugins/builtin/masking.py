"""Built-in masking rules: field names that hold personal data (or credentials) in any store, at any
depth of a payload or its metadata. Plugins name their own stores' fields precisely (the shop's
``CustomerRegistered.name``); these catch the common names nobody has to list. Matching a name is
enough: a viewer seeing one field too few masked is worse than one too many."""

from __future__ import annotations

from inspector.core.roles import MaskRule
from inspector.plugins.hookspecs import hookimpl

#: Key globs (case-insensitive), masked wherever they occur.
CONTACT = ("*email*", "*e_mail*", "*phone*", "mobile", "fax", "*address*", "street*", "address_line*",
           "*postcode*", "*postal_code*", "zip", "zipcode", "zip_code")
NAMES = ("first_name", "firstname", "last_name", "lastname", "full_name", "fullname", "given_name", "family_name",
         "surname", "middle_name", "maiden_name", "username", "user_name", "customer_name", "contact_name",
         "cardholder*", "holder_name")
IDENTITY = ("*birth*", "dob", "*ssn*", "social_security*", "national_id*", "passport*", "tax_id", "iban",
            "*account_number*", "*card_number*", "pan", "cvv", "cvc")
CREDENTIALS = ("password*", "passwd", "*secret*", "api_key", "*access_token*", "*refresh_token*")
CLIENT = ("ip", "*_ip", "ip_address", "user_agent", "latitude", "longitude", "*geolocation*")


def _anywhere(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"**.{n}" for n in names)


GENERIC_RULES = (
    MaskRule(fields=_anywhere(CONTACT), metadata=_anywhere(CONTACT), why="contact details"),
    MaskRule(fields=_anywhere(NAMES), metadata=_anywhere(NAMES), why="people's names"),
    MaskRule(fields=_anywhere(IDENTITY), metadata=_anywhere(IDENTITY), why="identity and payment numbers"),
    MaskRule(fields=_anywhere(CREDENTIALS), metadata=_anywhere(CREDENTIALS), why="credentials"),
    MaskRule(fields=_anywhere(CLIENT), metadata=_anywhere(CLIENT), why="network address, browser and location"),
)


@hookimpl
def register_masking_rules():
    """Common personal-data field names, in every store."""
    return list(GENERIC_RULES)
