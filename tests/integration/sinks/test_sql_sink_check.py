"""``screenpop check`` of a ``sql`` sink on real PostgreSQL and SQLite: its statement is planned, not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from screenpop.sink_api import SinkContext, SinkRefused
from screenpop.sinks.sql import SqlSink, SqlSinkOptions
from tests.support.service import base_config
from tests.support.sinks import SINK_STATEMENT, create_sink_table, sink_rows

pytestmark = pytest.mark.postgres


async def check(url: str, statement: str) -> str:
    sink = SqlSink("crm_log", SqlSinkOptions(url=url, statement=statement), SinkContext(None))
    await sink.start()
    try:
        return await sink.check()
    finally:
        await sink.close()


@pytest.fixture(params=["postgresql", "sqlite"])
async def call_log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A company database with its call log table, on each backend."""
    url: str = request.getfixturevalue("sink_db_url") if request.param == "postgresql" else ""
    url = url or f"sqlite+aiosqlite:///{tmp_path}/crm.db"
    await create_sink_table(url)
    return url


async def test_a_statement_naming_a_missing_table_or_column_fails_the_check(call_log_url: str) -> None:
    """A typo in the table or a column is found by the check, in the database's words, not by a note."""
    with pytest.raises(SinkRefused, match=r"^the statement cannot run: .*call_logg"):
        await check(call_log_url, SINK_STATEMENT.replace("INTO call_log ", "INTO call_logg "))
    with pytest.raises(SinkRefused, match=r"^the statement cannot run: .*phonee"):
        await check(call_log_url, SINK_STATEMENT.replace(" phone,", " phonee,"))


async def test_a_valid_statement_passes_the_check_and_writes_nothing(call_log_url: str) -> None:
    """The check plans the statement (EXPLAIN) and leaves the call log empty."""
    assert "statement is valid" in await check(call_log_url, SINK_STATEMENT)
    assert await sink_rows(call_log_url) == []


def test_screenpop_check_says_in_one_line_which_sink_statement_cannot_run(
    sink_db_url: str, tmp_path: Path
) -> None:
    """`screenpop check` fails (exit 1) with one line naming the sink and the missing table."""
    statement = SINK_STATEMENT.replace("INTO call_log ", "INTO call_logg ")
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    config["sinks"] = [{"name": "crm_log", "kind": "sql", "url": sink_db_url, "statement": statement}]
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "screenpop", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("sink crm_log")]
    assert "FAIL" in line and 'relation "call_logg" does not exist' in line
