"""Connection profiles: ``inspector profile add NAME URL --role R | list | remove NAME``. A profile
names a store and the highest role it may be opened with (``core.profiles``); passwords are never
kept."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import listed, print_result


def _row(p: Any) -> str:
    from ..core.connect import redact

    note = f"  {p.note}" if p.note else ""
    return f"{p.name:<20} {p.role.value:<9} {redact(p.url)}{note}"


def cmd_profile(args: argparse.Namespace) -> int:
    from ..core.profiles import ProfileBook, has_password

    book = ProfileBook()
    if args.action == "add":
        p = book.add(args.name, args.url, args.profile_role, args.note or "", replace=args.replace)
        if has_password(args.url):
            print("inspector: the password was not saved; give it again when connecting (or use the "
                  "database's own password file)", file=sys.stderr)
        out: Any = p.to_json()
        text = f"profile {p.name!r}: {p.url} as {p.role} ({book.path})"
    elif args.action == "remove":
        p = book.remove(args.name)
        out, text = p.to_json(), f"removed profile {p.name!r}"
    else:
        out, text = listed(book.list(), _row, "no profiles yet (inspector profile add NAME URL --role R)")
    return print_result(args, out, text)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    # no ``common`` parent: its --role is a session's, while ``add --role`` is the profile's own
    pr = sub.add_parser("profile", help="connection profiles: a store and the role it is opened with")
    pr.add_argument("--format", choices=("text", "json"), default="text")
    acts = pr.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = acts.add_parser("add", help="name a store and its role (the highest role a session may take)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL", help="the store (its password, if any, is not saved)")
    add.add_argument("--role", dest="profile_role", choices=("viewer", "auditor", "operator"), required=True)
    add.add_argument("--note", metavar="TEXT")
    add.add_argument("--replace", action="store_true", help="replace a profile of the same name")
    acts.add_parser("list", help="the profiles, by name")
    rm = acts.add_parser("remove", help="forget a profile")
    rm.add_argument("name", metavar="NAME")
    pr.set_defaults(func=cmd_profile)
