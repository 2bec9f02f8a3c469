"""The log's format, and what a traceback may say at the default level.

Every logger call in screenpop names a call by its id and a number only
masked (``phone.mask``), never a note, a token or a statement's parameters.
What no call site controls is an exception's *message* in a traceback
(``log.exception``, ``exc_info``, aiohttp's and asyncio's own reports of an
unexpected error): a ``KeyError`` on a dict keyed by caller number, a
driver's ``invalid input for query argument $1: '+1415…'``, a third-party
library quoting what it was given.  Unless ``--debug`` is on, tracebacks
keep their frames (where it broke) and each exception's type, and withhold
its message; ``--debug`` shows everything, for a developer at a test
machine.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WITHHELD = "(message withheld: it may quote personal data; --debug shows it)"
MAX_CHAIN = 20

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class WithholdingFormatter(logging.Formatter):
    """``logging.Formatter`` whose tracebacks name each exception's type but not its message.

    asyncio's report of an unhandled task error puts the task's ``repr`` in
    the message itself (``future: <Task ... exception=KeyError('+1415…')>``),
    so for the ``asyncio`` logger only the report's first line is kept.
    """

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "asyncio" and record.exc_info:
            record = logging.makeLogRecord(record.__dict__)
            record.msg, record.args = record.getMessage().split("\n", 1)[0], None
        return super().format(record)

    def formatException(self, ei: ExcInfo) -> str:
        exc = ei[1]
        if exc is None:
            return super().formatException(ei)
        return "".join(withheld_traceback(exc)).rstrip("\n")


def withheld_traceback(exc: BaseException) -> list[str]:
    """Traceback lines of ``exc`` and the exceptions it was raised from, messages withheld."""
    chain = [exc]
    while len(chain) < MAX_CHAIN:
        last = chain[-1]
        cause = last.__cause__ or (None if last.__suppress_context__ else last.__context__)
        if cause is None or cause in chain:
            break
        chain.append(cause)
    lines: list[str] = []
    for index, current in enumerate(reversed(chain)):
        if index:
            lines.append("\nThe above exception led to the following:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(current.__traceback__)
        kind = type(current)
        lines.append(f"{kind.__module__}.{kind.__qualname__}: {WITHHELD}\n")
    return lines


def configure(level: int, debug: bool) -> None:
    """Log to stderr at ``level``; tracebacks withhold their messages unless ``debug``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT) if debug else WithholdingFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
