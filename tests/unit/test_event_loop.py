"""``server.event_loop``: which loop ``screenpop serve`` runs on, and a clear error when it cannot."""

from __future__ import annotations

import asyncio
import sys

import pytest

from screenpop.config import settings_from_mapping
from screenpop.errors import ConfigError
from screenpop.web.event_loop import EventLoopUnavailable, loop_factory, loop_name


def test_auto_and_uvloop_run_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    for choice in ("auto", "uvloop"):
        factory = loop_factory(choice)  # type: ignore[arg-type]
        assert factory is not None
        loop = factory()
        try:
            assert loop_name(loop) == "uvloop"
            ran = asyncio.sleep(0, result="ran")  # allow-sleep: any coroutine, to see the loop run one
            assert loop.run_until_complete(ran) == "ran"
        finally:
            loop.close()


def test_asyncio_is_the_standard_loop() -> None:
    assert loop_factory("asyncio") is None
    with asyncio.Runner(loop_factory=loop_factory("asyncio")) as runner:
        assert runner.run(_running_loop_name()) == "asyncio"


async def _running_loop_name() -> str:
    return loop_name(asyncio.get_running_loop())


def test_auto_falls_back_when_uvloop_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what `import uvloop` meets where it is not installed
    assert loop_factory("auto") is None


def test_asking_for_uvloop_without_it_is_a_config_error_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(EventLoopUnavailable) as raised:
        loop_factory("uvloop")
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert "server.event_loop" in message and "pip install uvloop" in message and "\n" not in message


def _config(**server: str) -> dict[str, object]:
    return {"server": server, "agents": {"token_secret": "s" * 32, "directory": [{"id": "a1"}]}}


def test_the_config_key_takes_the_three_choices_only() -> None:
    for choice in ("auto", "uvloop", "asyncio"):
        settings = settings_from_mapping(_config(event_loop=choice), source="<test>", environ={})
        assert settings.server.event_loop == choice
    assert settings_from_mapping(_config(), source="<test>", environ={}).server.event_loop == "auto"
    with pytest.raises(ConfigError, match="event_loop"):
        settings_from_mapping(_config(event_loop="trio"), source="<test>", environ={})
