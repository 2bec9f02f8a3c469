"""The ``screenpop`` command: the only place that prints to the terminal or exits.

Every failure a user can cause ends as one sentence on stderr (exit 2 for a
config problem, 1 for anything else); ``--debug`` adds the traceback.
``parser`` says what can be typed, ``commands`` what each subcommand does.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from screenpop.cli import logs
from screenpop.cli.commands import COMMANDS
from screenpop.cli.parser import build_parser
from screenpop.errors import ConfigError, ScreenpopError

EXIT_FAILURE = 1
EXIT_CONFIG = 2
QUIET = {"serve": logging.INFO, "demo": logging.INFO, "check": logging.ERROR, "lookup": logging.ERROR}
"""Log levels other than WARNING: a service logs its start-up; ``check`` and ``lookup`` print
each connector's status in their table, so a connector's WARNING would report it twice."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.debug else QUIET.get(args.command, logging.WARNING)
    logs.configure(level, args.debug)
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.debug else logging.WARNING)
    runner = COMMANDS[args.command]
    try:
        return runner(args)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        return _fail(args, exc, EXIT_CONFIG)
    except (ScreenpopError, OSError, ValueError) as exc:
        return _fail(args, exc, EXIT_FAILURE)


def _fail(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if args.debug:
        traceback.print_exception(exc)
    print(f"screenpop: {_sentence(exc)}", file=sys.stderr)
    return code


def _sentence(exc: BaseException) -> str:
    """The error as a sentence; an OS refusal names its path and reason, without ``[Errno N]``."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"cannot use {exc.filename}: {exc.strerror[0].lower()}{exc.strerror[1:]}"
    return str(exc) or type(exc).__name__
