"""The ``screenpop`` command line: its subcommands and their options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

MAX_TOKEN_TTL_S = 366 * 24 * 3600
"""A token lives at most a year: one that outlives its agent's job is a key nobody remembers to revoke."""


class OneSentenceParser(argparse.ArgumentParser):
    """Typing mistakes end in one line on stderr, like every other error of the command (SPEC 2).

    argparse's own answer is the usage block and then the error: three or
    four lines where a script that watches stderr, or an IT person reading
    it, wants the sentence that says what is wrong and where to look.
    Subcommands are made of this class too (``add_subparsers`` uses the
    parent's class), so every command answers the same way; ``--help``
    still prints the whole usage.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneSentenceParser(prog="screenpop", description="Caller cards for contact-center agents.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="write the demo databases (if missing) and serve the demo")
    demo.add_argument("--port", type=_port, default=8080)
    demo.add_argument("--host", default=None)
    demo.add_argument("--dir", default="demo-data", help="where the demo databases live")

    serve = sub.add_parser("serve", help="run the service")
    _config_arg(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=_port)

    check = sub.add_parser("check", help="validate the config and test every part; exit 1 on a failure")
    _config_arg(check)
    check.add_argument("--number", default=None, help="the number of the test lookup")

    lookup = sub.add_parser("lookup", help="run the fan-out once and print the card")
    given = lookup.add_mutually_exclusive_group(required=True)  # `--number` as check, erase and audit take it
    given.add_argument("number", nargs="?", help="the number to look up, in any format")
    given.add_argument("--number", dest="number_option", metavar="NUMBER", help="the same, as an option")
    _config_arg(lookup)
    lookup.add_argument("--json", action="store_true", help="print the final card as JSON")
    lookup.add_argument(
        "--trace",
        action="store_true",
        help="also show each connector's statement or URL (secrets masked), parameters, time and raw rows",
    )

    call = sub.add_parser("call", help="send a signed `ringing` webhook to a running service")
    call.add_argument("number")
    call.add_argument("--agent")
    call.add_argument("--queue")
    call.add_argument("--url", help="the service's base URL (default: server.host and port)")
    call.add_argument("--provider", help="which providers: block to sign as (default: the first)")
    call.add_argument("--call-id", help="the call id to send (default: a new one)")
    _config_arg(call)

    token = sub.add_parser("token", help="print an agent token")
    token.add_argument("agent_id")
    token.add_argument("--role")
    token.add_argument(
        "--ttl",
        type=_between(1, MAX_TOKEN_TTL_S),
        default=12 * 3600,
        help="seconds (default 12 h, at most a year)",
    )
    _config_arg(token)

    data = sub.add_parser("demo-data", help="write the demo SQLite databases")
    data.add_argument("--dir", default="demo-data")
    data.add_argument("--customers", type=int, default=2000, help="how many customers (6 to 100,000)")

    audit = sub.add_parser("audit", help="who saw a caller's card, and which sections (the audit trail)")
    audit.add_argument("--number", help="the caller's number, in any format")
    audit.add_argument("--agent", help="one agent's views only")
    audit.add_argument("--section", help="only views that carried this section (e.g. credit)")
    audit.add_argument("--limit", type=_between(1, 10_000), default=50)
    _config_arg(audit)

    erase = sub.add_parser(
        "erase", help="remove every call, note, history entry, cached section and card of one caller"
    )
    whom = erase.add_mutually_exclusive_group(required=True)
    whom.add_argument("--number", help="the caller's number, in any format (default region from the config)")
    whom.add_argument(
        "--customer", metavar="CONNECTOR:ID", help="a connector's customer id, e.g. accounting:A-1001"
    )
    _config_arg(erase)
    erase.add_argument("--by", help="who asks for the erasure, for the audit log (default: the OS user)")

    replay = sub.add_parser(
        "ami-replay", help="replay a recorded Asterisk AMI event stream through the parser"
    )
    replay.add_argument("file")
    _config_arg(replay)
    replay.add_argument("--provider", help="which asterisk_ami provider block (default: the first)")
    replay.add_argument("--url", help="also post each event to a running service as the generic provider")
    return parser


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        help="config file (default: $SCREENPOP_CONFIG, else config/screenpop.yaml)",
    )


def config_path(given: str | None) -> Path:
    return Path(given or os.environ.get("SCREENPOP_CONFIG") or "config/screenpop.yaml")


def _between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else one sentence saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high:,}")
        return value

    return parse


_port = _between(1, 65535)
