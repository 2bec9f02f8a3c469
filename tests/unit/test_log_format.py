"""The log's tracebacks at the default level: frames and exception types, never an exception's message."""

from __future__ import annotations

import asyncio
import io
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


def test_asyncio_report_of_a_lost_task_error_keeps_only_its_first_line() -> None:
    """asyncio's own report of a task error (the task's repr, quoting the error) is cut to its first line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(WithholdingFormatter(FORMAT))
    logging.getLogger("asyncio").addHandler(handler)

    async def fail() -> None:
        raise KeyError(NUMBER)

    async def report() -> None:
        task = asyncio.get_running_loop().create_task(fail())
        await asyncio.wait([task])
        lost = "Task exception was never retrieved"
        asyncio.get_running_loop().call_exception_handler(
            {"message": lost, "exception": task.exception(), "future": task}
        )

    try:
        asyncio.run(report())
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
    text = stream.getvalue()
    assert "ERROR asyncio: Task exception was never retrieved" in text
    assert "builtins.KeyError: " + WITHHELD in text
    assert NUMBER not in text
