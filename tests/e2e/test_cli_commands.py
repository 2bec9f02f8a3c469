"""IT staff's one-off commands as they type them: `screenpop demo-data`, `lookup` and `check`.

Every command runs as a real `python -m screenpop` process against real
SQLite demo databases (written once per module by `screenpop demo-data`) or
the test PostgreSQL server.  Expected values are read straight from the
databases with sqlite3 and phonenumbers, independently of screenpop's own
code, so a card that shows the wrong row fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import yaml
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.service import base_config

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "config" / "demo.yaml"
# Each demo lookup builds the purchase models in a spawned worker (about 3 s of CPU), and the
# module runs five side by side: on two busy cores that is well over 30 s of wall time.
RUN_TIMEOUT_S = 120
pytestmark = pytest.mark.timeout(300)
ADA_TYPED = "(415) 555-0132"
ADA_E164 = "+14155550132"
BABBAGE_E164 = "+13125550178"
FINAL = {"ok", "not_found", "timeout", "error", "skipped"}
CLOSED_PORT = 1  # nothing listens on 127.0.0.1:1
PASSWORD = "secretpw"
SECTION_LINE = r"^{name}\s+{status}\s+(\d+|-)\s+(.*)$"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def screenpop(*args: str, env: dict[str, str] | None = None) -> Run:
    return screenpop_together([list(args)], env)[0]


def screenpop_together(commands: list[list[str]], env: dict[str, str] | None = None) -> list[Run]:
    """Run several `screenpop` commands at once (each its own process), in the order given."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "screenpop", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
        )
        for args in commands
    ]
    runs = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=RUN_TIMEOUT_S)
            runs.append(Run(process.returncode, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return runs


@dataclass(frozen=True)
class Demo:
    directory: Path
    written: Run

    @property
    def env(self) -> dict[str, str]:
        return {"SCREENPOP_DEMO_DIR": str(self.directory)}

    def rows(self, database: str, query: str, *params: Any) -> list[sqlite3.Row]:
        connection = sqlite3.connect(f"file:{self.directory / database}.db?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        try:
            return list(connection.execute(query, params))
        finally:
            connection.close()

    def lookups(self, *commands: list[str]) -> list[Run]:
        return screenpop_together([["lookup", *c, "--config", str(DEMO_CONFIG)] for c in commands], self.env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    directory = tmp_path_factory.mktemp("demo")
    return Demo(directory, screenpop("demo-data", "--dir", str(directory)))


def sales_names_for(demo: Demo, e164: str) -> list[str]:
    """Sales customers whose free-form phone or mobile is this number, parsed by phonenumbers itself."""
    names = []
    for row in demo.rows("sales", "SELECT name, phone, mobile FROM customers"):
        for stored in (row["phone"], row["mobile"]):
            if stored and _e164(stored) == e164:
                names.append(row["name"])
                break
    return names


def _e164(text: str) -> str | None:
    try:
        parsed = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def section_line(out: str, name: str, status: str = "ok") -> tuple[str, str]:
    """The (elapsed ms or "-", data summary) of a section's one line in the human-readable card."""
    found = re.search(SECTION_LINE.format(name=name, status=status), out, re.MULTILINE)
    assert found, f"no `{name} {status}` line in:\n{out}"
    return found.group(1), found.group(2)


def money(value: float) -> str:
    return f"${value:,.2f}"


# --- demo-data ------------------------------------------------------------------------------


def test_demo_data_writes_three_databases_and_names_the_demo_customers(demo: Demo) -> None:
    """`screenpop demo-data --dir D` writes the three databases and lists demo numbers to try."""
    assert demo.written.code == 0, demo.written.err
    for name in ("accounting", "sales", "credit"):
        assert (demo.directory / f"{name}.db").is_file()
    (accounts,) = demo.rows("accounting", "SELECT COUNT(*) FROM accounts")[0]
    assert f"wrote {accounts} accounts" in demo.written.out
    assert ADA_E164 in demo.written.out and BABBAGE_E164 in demo.written.out


def test_demo_data_with_too_few_customers_is_one_sentence(tmp_path: Path) -> None:
    """`screenpop demo-data --customers 3` fails with exit 1 and one sentence on stderr, no traceback."""
    run = screenpop("demo-data", "--dir", str(tmp_path / "few"), "--customers", "3")
    assert run.code == 1
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("screenpop: ") and "customers" in lines[0]
    assert "Traceback" not in run.err
    assert not (tmp_path / "few" / "accounting.db").exists()


def test_numbers_out_of_range_are_refused_in_one_sentence(tmp_path: Path) -> None:
    """A port past 65535 was served modulo 65536, an expired or 10^20 s token printed, a huge demo recursed.

    Each is now refused before anything runs: the usage's last line (or,
    for the demo's size, the one line) says what the number must be.
    """
    bad = {
        ("serve", "--port", "99999"): "99999 is not between 1 and 65,535",
        ("serve", "--port", "-1"): "-1 is not between 1 and 65,535",
        ("demo", "--port", "70000", "--dir", str(tmp_path / "d")): "70000 is not between 1 and 65,535",
        ("token", "agent-1", "--ttl", "-5"): "-5 is not between 1 and 31,622,400",
        ("token", "agent-1", "--ttl", "99999999999999999999"): "is not between 1 and 31,622,400",
        ("audit", "--limit", "0"): "0 is not between 1 and 10,000",
        ("demo-data", "--dir", str(tmp_path / "big"), "--customers", "99999999999999"): "at most 100,000",
    }
    runs = screenpop_together([list(args) for args in bad])
    for (args, words), run in zip(bad.items(), runs, strict=True):
        assert run.code in (1, 2), (args, run.out, run.err)
        assert "Traceback" not in run.err, args
        last = run.err.strip().splitlines()[-1]
        assert words in last and last.startswith("screenpop"), (args, last)
    assert not (tmp_path / "big" / "accounting.db").exists()


def test_a_typing_mistake_is_one_line_naming_the_mistake_and_the_help() -> None:
    """argparse answered these with its usage block, then the error: three or four lines, not one sentence."""
    bad = {
        (
            "erase",
            "--number",
            "+14155550132",
            "--customer",
            "accounting:1",
        ): "not allowed with argument --number",
        ("erase",): "one of the arguments --number --customer is required",
        ("nosuch",): "invalid choice: 'nosuch'",
        (): "the following arguments are required: COMMAND",
        ("serve", "--port", "abc"): "'abc' is not a whole number",
        ("lookup",): "one of the arguments number --number is required",
        ("serve", "--bogus"): "unrecognized arguments: --bogus",
    }
    runs = screenpop_together([list(args) for args in bad])
    for (args, words), run in zip(bad.items(), runs, strict=True):
        assert run.code == 2 and run.out == "", (args, run)
        lines = run.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("screenpop"), (args, run.err)
        assert words in lines[0] and "--help` lists the options" in lines[0], (args, lines[0])
        assert "usage:" not in run.err and "Traceback" not in run.err, args


def test_what_cannot_be_used_is_named_in_one_sentence(demo: Demo, tmp_path: Path) -> None:
    """A host that does not resolve, a directory as config, a number that is none, a URL that is none.

    Each said less than it should: `[Errno -2] Name or service not known`,
    `[Errno 21] Is a directory`, an audit of "garbage" that found "nothing",
    and `cannot reach notaurl/webhooks/pbx: notaurl/webhooks/pbx`.
    """
    config = ["--config", str(DEMO_CONFIG)]
    bad = {
        ("serve", "--host", "host.invalid", "--port", "1", *config): "cannot listen on host.invalid:1",
        (
            "lookup",
            "+14155550132",
            "--config",
            str(tmp_path),
        ): "the config file cannot be read (is a directory)",
        ("audit", "--number", "garbage", *config): "--number 'garbage' is not a phone number",
        ("check", "--number", "call me", *config): "--number 'call me' is not a phone number",
        (
            "call",
            "+14155550132",
            "--url",
            "notaurl",
            *config,
        ): "--url 'notaurl' is not an http:// or https://",
    }
    runs = screenpop_together([list(args) for args in bad], demo.env)
    for (args, words), run in zip(bad.items(), runs, strict=True):
        assert run.code in (1, 2) and "Traceback" not in run.err, (args, run.err)
        assert run.err.strip().splitlines()[-1] == f"screenpop: {words}" or words in run.err, (args, run.err)
        assert len([line for line in run.err.splitlines() if line.startswith("screenpop: ")]) == 1, run.err


# --- lookup on the demo ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def lookups(demo: Demo) -> dict[str, Run]:
    """The demo lookups the tests below read, run side by side to keep the module quick."""
    typed = {
        "ada": [ADA_TYPED],
        "ada_json": [ADA_TYPED, "--json"],
        "babbage": ["312.555.0178"],
        "withheld": ["anonymous"],
        "junk": ["call me 12"],
    }
    return dict(zip(typed, demo.lookups(*typed.values()), strict=True))


@pytest.fixture(scope="module")
def ada(demo: Demo) -> dict[str, Any]:
    """Ada's rows as the three departments store them, found without screenpop."""
    (account,) = demo.rows("accounting", "SELECT * FROM accounts WHERE phone_e164 = ?", ADA_E164)
    (credit,) = demo.rows(
        "credit", "SELECT * FROM credit_accounts WHERE account_id = ?", account["account_id"]
    )
    (sales_name,) = sales_names_for(demo, ADA_E164)
    return {"account": dict(account), "credit": dict(credit), "sales_name": sales_name}


def test_lookup_prints_one_readable_line_per_section(
    demo: Demo, ada: dict[str, Any], lookups: dict[str, Run]
) -> None:
    """A number typed in national format prints each section's status, time and the database's values."""
    run = lookups["ada"]
    assert run.code == 0, run.err
    account, credit = ada["account"], ada["credit"]
    assert re.search(rf"^caller\s+\(415\) 555-0132\s+{re.escape(ADA_E164)}\s+San Francisco", run.out, re.M)
    assert re.search(rf"^customer\s+{ada['sales_name']}\s+\(1 match\)", run.out, re.M)
    assert re.search(r"^badge\s+WARN: Overdue\s+\(from accounting\)", run.out, re.M)
    _, accounting = section_line(run.out, "accounting")
    assert f"Balance: {money(account['balance'])}" in accounting
    assert f"Account: {account['account_id']}" in accounting
    _, credit_line = section_line(run.out, "credit")
    assert f"Rating: {credit['rating']}" in credit_line
    assert f"Limit: {money(credit['credit_limit'])}" in credit_line
    _, sales = section_line(run.out, "sales")
    assert "Lifetime value: $" in sales
    (orders,) = demo.rows(
        "sales",
        "SELECT COUNT(*) FROM orders o JOIN customers c USING (customer_id) WHERE c.name = ?",
        ada["sales_name"],
    )[0]
    assert f"Orders: {orders}" in sales
    _, purchases = section_line(run.out, "purchases")
    assert re.match(r"\d+ rows?: Date: \d{4}-\d\d-\d\d; Product: ", purchases)
    timing = re.search(r"^card complete in (\d+) ms \(first section in (\d+) ms", run.out, re.M)
    assert timing and int(timing.group(2)) <= int(timing.group(1)) < 1500


def test_lookup_json_is_the_final_card_with_values_from_the_databases(
    demo: Demo, ada: dict[str, Any], lookups: dict[str, Run]
) -> None:
    """`--json` prints the complete card: credit bound through `needs` to the accounting account's row."""
    run = lookups["ada_json"]
    assert run.code == 0, run.err
    card = json.loads(run.out)
    sections = card["sections"]
    assert set(sections) == {"accounting", "sales", "purchases", "insight", "credit", "offer"}
    assert all(s["status"] in FINAL for s in sections.values())
    # insight too: a one-off lookup waits for the purchase model before asking it
    assert {name: s["status"] for name, s in sections.items()} == dict.fromkeys(sections, "ok")
    assert sections["insight"]["data"]["likely_next"][0]["reason"].startswith("bought ")
    overdue = ada["account"]["overdue_amount"]
    assert sections["offer"]["data"]["say"] == f"Ask about the overdue ${overdue:,.2f} first"
    account, credit = ada["account"], ada["credit"]
    assert card["caller"]["e164"] == ADA_E164 and card["caller"]["raw"] == ADA_TYPED
    assert sections["accounting"]["data"]["balance"] == account["balance"]
    assert sections["accounting"]["data"]["overdue_amount"] == account["overdue_amount"] > 0
    assert sections["sales"]["data"]["name"] == ada["sales_name"]
    for column in ("credit_limit", "used", "rating", "terms", "review_date"):
        assert sections["credit"]["data"][column] == credit[column], column
    same = demo.rows(
        "credit",
        "SELECT account_id FROM credit_accounts WHERE credit_limit = ? AND used = ? AND review_date = ?",
        credit["credit_limit"],
        credit["used"],
        credit["review_date"],
    )
    assert [r["account_id"] for r in same] == [account["account_id"]]  # only the needs-bound row fits
    assert card["customer"]["name"] == account["name"]
    assert card["customer"]["ids"]["accounting"] == account["account_id"]
    assert card["customer"]["matches"] == 1 and card["customer"]["conflicts"] == []
    assert {"section": "accounting", "text": "Overdue", "level": "warn"} in card["badges"]


def test_lookup_of_a_duplicated_customer_shows_the_conflict(demo: Demo, lookups: dict[str, Run]) -> None:
    """A customer entered twice in sales prints both names as a possible duplicate."""
    names = sales_names_for(demo, BABBAGE_E164)
    assert len(names) == 2 and names[0] != names[1]
    run = lookups["babbage"]
    assert run.code == 0, run.err
    assert re.search(r"^customer\s+.+\(2 matches\)", run.out, re.M)
    conflict = re.search(r"^conflict\s+possible duplicate, name: (.*)$", run.out, re.M)
    assert conflict and all(f'"{name}"' in conflict.group(1) for name in names)


def test_lookup_of_a_withheld_number_asks_no_connector(lookups: dict[str, Run]) -> None:
    """`anonymous` prints that the number is withheld and every section skipped, without a lookup."""
    run = lookups["withheld"]
    assert run.code == 0, run.err
    assert "number withheld: no connector was asked" in run.out
    for name in ("accounting", "sales", "purchases", "insight", "credit", "offer"):
        assert section_line(run.out, name, "skipped") == ("-", "number withheld")


def test_lookup_of_a_junk_number_still_prints_a_card(lookups: dict[str, Run]) -> None:
    """A number that cannot be parsed prints a card marked invalid, with every section in a final state."""
    run = lookups["junk"]
    assert run.code == 0, run.err
    assert "not a valid number" in run.out
    assert section_line(run.out, "accounting", "not_found")[1] == "no match"
    assert section_line(run.out, "credit", "skipped")[1] == "needs accounting.account_id"
    assert "card complete in" in run.out


def test_lookup_with_a_missing_config_names_the_file(tmp_path: Path) -> None:
    """A missing config file is exit 2 and one line on stderr naming the file."""
    missing = tmp_path / "nowhere.yaml"
    run = screenpop("lookup", ADA_TYPED, "--config", str(missing))
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0]
    assert run.out == ""


# --- check ----------------------------------------------------------------------------------


def check_rows(out: str) -> dict[str, tuple[str, str]]:
    """part -> (result, detail) from the check table."""
    rows = {}
    for line in out.splitlines():
        found = re.match(
            r"^(config|server|store|broker|connector \S+|lookup \S+|sink \S+)"
            r"\s+(ok|FAIL|skip|warn)\s+\d+\s*(.*)$",
            line,
        )
        if found:
            rows[found.group(1)] = (found.group(2), found.group(3))
    return rows


def test_check_of_the_demo_is_all_ok(demo: Demo) -> None:
    """`screenpop check` on the demo reports config, store, broker, each connector and its lookup as ok."""
    run = screenpop("check", "--config", str(DEMO_CONFIG), env=demo.env)
    assert run.code == 0, run.out + run.err
    rows = check_rows(run.out)
    connectors = ("accounting", "sales", "purchases", "insight", "credit", "offer")
    expected = {"config", "server", "store", "broker"} | {
        f"{k} {c}" for c in connectors for k in ("connector", "lookup")
    }
    assert set(rows) == expected
    # the demo's port is 8080: a demo served on this machine meanwhile makes it a warning, not a failure
    listening = rows["server"][0]
    assert listening in ("ok", "warn"), rows["server"]
    # the rules need credit and accounting, which the probe number does not find: not run, not failed
    results = {**dict.fromkeys(expected, "ok"), "lookup offer": "skip", "server": listening}
    assert {part: result for part, (result, _) in rows.items()} == results
    assert rows["lookup credit"][1].startswith("not_found with accounting.account_id = NULL")
    oks = len(expected) - 1 - (listening == "warn")
    assert f"{oks} ok, 0 failed, 1 skipped" in run.out


@pytest.fixture(scope="module")
def broken_check(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`check` of the demo with credit on a closed PostgreSQL port and an HTTP API on a closed port."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    (credit,) = [c for c in config["connectors"] if c["name"] == "credit"]
    credit["url"] = f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:{CLOSED_PORT}/x"
    config["connectors"].append(
        {
            "name": "crm",
            "kind": "http",
            "url": f"http://127.0.0.1:{CLOSED_PORT}/contacts?phone={{e164}}",
            "select": {"name": "$.name"},
            "timeout_ms": 500,
        }
    )
    path = tmp_path_factory.mktemp("broken") / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    return screenpop("check", "--config", str(path), env=demo.env)


def test_check_fails_an_unreachable_database_without_its_password(broken_check: Run) -> None:
    """A connector whose database cannot be reached is FAIL with a one-line reason and no password; exit 1."""
    assert broken_check.code == 1
    rows = check_rows(broken_check.out)
    assert rows["connector credit"] == ("FAIL", "cannot reach database (connection refused)")
    assert rows["lookup credit"][0] == "FAIL"
    assert rows["connector accounting"][0] == rows["lookup accounting"][0] == "ok"
    assert PASSWORD not in broken_check.out + broken_check.err
    assert "Traceback" not in broken_check.err


def test_check_fails_an_http_connector_on_a_closed_port(broken_check: Run) -> None:
    """An `http` connector whose API does not listen is FAIL, saying the connection was refused."""
    rows = check_rows(broken_check.out)
    assert rows["connector crm"] == ("FAIL", "cannot reach crm (connection refused)")
    assert rows["lookup crm"][0] == "FAIL"
    assert re.search(r"^\d+ ok, 4 failed, 1 skipped$", broken_check.out, re.M)  # skipped: the offer rules


def test_check_tries_each_sink_without_writing_and_without_its_secrets(demo: Demo, tmp_path: Path) -> None:
    """A reachable sql sink is ok (nothing written); one on a closed port, or an http sink there, is FAIL."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    log_db = tmp_path / "crm-log.db"
    statement = "INSERT INTO call_log (call_id) VALUES (:call_id)"
    config["sinks"] = [
        {"name": "crm_log", "kind": "sql", "url": f"sqlite+aiosqlite:///{log_db}", "statement": statement},
        {
            "name": "crm_backup",
            "kind": "sql",
            "url": f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:{CLOSED_PORT}/x",
            "statement": statement,
        },
        {
            "name": "crm_webhook",
            "kind": "http",
            "url": f"http://127.0.0.1:{CLOSED_PORT}/log",
            "headers": {"Authorization": f"Bearer {PASSWORD}-token"},
            "timeout_s": 2,
        },
    ]
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump(config))
    run = screenpop("check", "--config", str(path), env=demo.env)
    rows = check_rows(run.out)
    assert run.code == 1
    # the statement is explained, not run: its missing table is found, and nothing is created
    assert rows["sink crm_log"] == ("FAIL", "the statement cannot run: no such table: call_log")
    assert rows["sink crm_backup"][0] == "FAIL" and "connection refused" in rows["sink crm_backup"][1]
    assert rows["sink crm_webhook"] == ("FAIL", "unreachable (connection refused)")
    assert PASSWORD not in run.out + run.err
    assert "Traceback" not in run.err
    assert asyncio.run(_fetch(f"sqlite+aiosqlite:///{log_db}", "SELECT name FROM sqlite_master")) == []


@pytest.mark.parametrize(
    "url",
    [
        f"redis+sentinel://:{PASSWORD}/abc@127.0.0.1:{CLOSED_PORT}/mymaster?socket_timeout=soon",
        f"redis://:{PASSWORD}/abc@127.0.0.1:{CLOSED_PORT}/0?foo=bar",
        f"redis://:{PASSWORD}@127.0.0.1:not{PASSWORD}/0",
    ],
)
def test_check_with_a_bad_redis_broker_url_is_one_sentence_without_the_password(
    url: str, tmp_path: Path
) -> None:
    """`check` refuses a malformed ``broker.url`` before connecting: exit 2, one line naming file and key."""
    config = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path}/store.db"},
        "broker": {"url": url},
        "agents": {"token_secret": "t" * 32, "directory": [{"id": "agent-1", "role": "supervisor"}]},
        "providers": [{"name": "pbx", "kind": "generic", "secret": "s3cret-s3cret"}],
    }
    path = tmp_path / "bad-redis.yaml"
    path.write_text(yaml.safe_dump(config))
    run = screenpop("check", "--config", str(path))
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"screenpop: {path}: broker.url: "), run.err
    assert PASSWORD not in run.out + run.err and "Traceback" not in run.err


@pytest.mark.postgres
def test_check_with_the_store_on_postgresql_is_ok(demo: Demo, pg_url: str, tmp_path: Path) -> None:
    """With `store.url` on a real PostgreSQL database, check migrates it and reports the store ok."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["store"]["url"] = pg_url
    path = tmp_path / "pg-store.yaml"
    path.write_text(yaml.safe_dump(config))
    run = screenpop("check", "--config", str(path), env=demo.env)
    assert run.code == 0, run.out + run.err
    assert check_rows(run.out)["store"] == ("ok", "migrated, answering")
    tables = asyncio.run(_fetch(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert {"calls", "call_events", "notes"} <= {row.tablename for row in tables}


# --- lookup against PostgreSQL --------------------------------------------------------------


async def _fetch(url: str, query: str, *script: str) -> list[Row[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in script:
                await connection.execute(text(statement))
            return list(await connection.execute(text(query)))
    finally:
        await engine.dispose()


@pytest.fixture
def messy_postgres(pg_url: str) -> str:
    """A PostgreSQL customers table whose numbers are stored as reps typed them."""
    asyncio.run(
        _fetch(
            pg_url,
            "SELECT 1",
            """
        CREATE TABLE customers (id integer PRIMARY KEY, name text, phone text, mobile text)""",
            """
        INSERT INTO customers VALUES
          (1, 'Decoy One', '(415) 555-0131', NULL),
          (2, 'Mary Messy', '415.555.0177 x12', '+1 (646) 555-0140'),
          (3, 'Decoy Two', NULL, '0049 30 1234567'),
          (4, 'No Number', '', NULL);
    """,
        )
    )
    return pg_url


@pytest.mark.postgres
def test_lookup_with_a_sql_connector_on_postgresql_matches_normalized_numbers(
    messy_postgres: str, tmp_path: Path
) -> None:
    """A `match: normalized` sql connector on PostgreSQL finds a row for a number typed another way."""
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    config["roles"] = {"tier1": {}, "supervisor": {}}
    config["connectors"] = [
        {
            "name": "crm",
            "kind": "sql",
            "url": messy_postgres,
            "match": "normalized",
            "index_query": "SELECT id, phone, mobile FROM customers",
            "query": "SELECT id, name, phone FROM customers WHERE id IN :keys",
            "identity": {"id": "id", "name": "name"},
            "timeout_ms": 2000,
        }
    ]
    path = tmp_path / "pg.yaml"
    path.write_text(yaml.safe_dump(config))
    typed = ("+1 415 555 0177", "(646) 555-0140")
    for run in screenpop_together([["lookup", t, "--config", str(path), "--json"] for t in typed]):
        assert run.code == 0, run.err
        crm = json.loads(run.out)["sections"]["crm"]
        assert crm["status"] == "ok", crm
        assert crm["data"] == {"id": 2, "name": "Mary Messy", "phone": "415.555.0177 x12"}
