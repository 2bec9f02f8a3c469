"""The log's tracebacks at the default level: frames and exception types, never an exception's message."""

from __future__ import annotations

import logging
import sys

from screenpop.cli.logs import FORMAT, WITHHELD, WithholdingFormatter

NUMBER = "+14155550132"


def failing_record() -> logging.LogRecord:
    """A record of ``log.exception`` for a ValueError raised from a KeyError, both quoting a number."""
    try:
        try:
            {}[NUMBER]
        except KeyError as exc:
            raise ValueError(f"no account for {NUMBER}") from exc
    except ValueError:
        info = sys.exc_info()
    return logging.LogRecord("screenpop.calls", logging.ERROR, __file__, 1, "call %s failed", ("c-1",), info)


def test_a_traceback_keeps_types_and_frames_but_withholds_messages() -> None:
    """Both exceptions of the chain are named with the line that raised them; the number is not there."""
    text = WithholdingFormatter(FORMAT).format(failing_record())
    assert "call c-1 failed" in text
    assert "builtins.KeyError: " + WITHHELD in text
    assert "builtins.ValueError: " + WITHHELD in text
    assert "in failing_record" in text
    assert NUMBER not in text


def test_the_debug_format_shows_the_messages() -> None:
    """With --debug the plain formatter is used, and the same record shows what went wrong in full."""
    assert NUMBER in logging.Formatter(FORMAT).format(failing_record())
