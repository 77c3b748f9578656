"""The command line: every capability headless, JSON out for scripts, CI and agents.

Errors a user can act on print one line on stderr and exit non-zero; never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .. import __version__
from ..core.errors import InspectorError
from . import audit, browse, check, compensate, export, history, investigations, oplog, profiles, replay, submit, tail
from .common import add_session_options, fail, run_gui


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspector", description="Audit and replay inspector for SQL event stores.")
    p.add_argument("--version", action="version", version=f"inspector {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin", action="append", metavar="PATH", help="load a plugin from a .py file or package folder")
    add_session_options(common)  # --role and --profile: every command's session
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    browse.add_commands(sub, common)
    history.add_commands(sub, common)
    audit.add_commands(sub, common)  # audit, who
    replay.add_commands(sub, common)
    profiles.add_commands(sub, common)
    compensate.add_commands(sub, common)
    submit.add_commands(sub, common)  # the session's --role (profile ceiling); submit requires operator
    check.add_commands(sub, common)
    export.add_commands(sub, common)
    oplog.add_commands(sub, common)  # log, verify-log, approve: the inspector's own audit trail
    tail.add_commands(sub, common)
    investigations.add_commands(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        return run_gui()
    try:
        return args.func(args)
    except InspectorError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # a reader such as `head` closed the pipe: not an error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as e:  # database errors that escaped the core's own translation
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(e, SQLAlchemyError):
            from ..core.connect import describe_error, normalize_url

            url = getattr(args, "url", None)
            return fail(describe_error(e, normalize_url(url) if url else None))
        raise


