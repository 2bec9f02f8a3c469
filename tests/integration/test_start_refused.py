"""A service whose start is refused (a Telnyx key of the wrong length) closes what it had opened.

`serve` printed the reason and then "ERROR asyncio: Unclosed client session":
the store, broker and HTTP session opened before the providers were built
were left open when building them failed.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
from aiohttp import web

from screenpop.app import create_app
from screenpop.errors import ConfigError
from screenpop.testing import make_settings


async def test_a_refused_start_leaves_no_session_open(tmp_path: Path) -> None:
    settings = make_settings(
        store={"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        providers=[{"name": "telnyx", "kind": "telnyx", "public_key": "MCowBQYDK2VwAyEA"}],
    )
    reported: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(str(context.get("message"))))
    try:
        runner = web.AppRunner(create_app(settings))
        with pytest.raises(ConfigError, match=r"^<test>: provider .telnyx.: `public_key`"):
            await runner.setup()
        await runner.cleanup()
        del runner
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert not [message for message in reported if "Unclosed" in message]
