"""IT's first hour (issue 14): what a newcomer pointing screenpop at their own data reads.

Every test runs the real `python -m screenpop` in its own process, as IT
types it, and reads what it prints; where the message is about a running
service, a real `screenpop serve` answers and a real websocket receives the
card.  Expected key lists come from the config models themselves and
expected index figures from phonenumbers and the rows the test wrote, so a
message that forgets a key or miscounts fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import websockets
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.sql.options import SqlOptions
from screenpop.config import BadgeRule, ConnectorSettings
from tests.support.ports import free_port
from tests.support.processes import stop, wait_ready
from tests.support.service import ADA, SECRET, WEBHOOK_SECRET, base_config
from tests.support.tokens import host_token

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 60
# Variables a newcomer's config names; removed from the environment unless a test sets them.
VARIABLES = (
    "SCREENPOP_AGENT_SECRET",
    "PBX_WEBHOOK_SECRET",
    "TWILIO_AUTH_TOKEN",
    "FIRST_HOUR_DB_URL",
    "CRM_TOKEN",
    "DB_PASSWORD",
)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`screenpop ARGS` with only the variables in ``env`` set among ``VARIABLES``."""
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "SCREENPOP_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "screenpop", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=ROOT,
        env={**base, "COLUMNS": "200", **(env or {})},
    )


def one_sentence(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single stderr line of a command that failed with ``code``, and nothing on stdout."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


def sql_block(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "sql", "url": "sqlite+aiosqlite:///unused.db", "query": "SELECT 1", **extra}


def newcomer_config(tmp_path: Path) -> dict[str, Any]:
    """A config like the issue's newcomer wrote: three sql connectors, a line, a badge."""
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    config["lines"] = [{"number": "+18005550100", "name": "Main line", "queue": "support"}]
    config["roles"] = {"tier1": {"hide": ["credit"]}, "supervisor": {}}
    display = {
        "title": "Accounting",
        "fields": {"balance": {"label": "Balance", "format": "currency"}},
        "badges": [{"field": "balance", "above": 0, "text": "Owes", "level": "warn"}],
    }
    config["connectors"] = [
        sql_block("accounting", display=display, circuit={"failures": 3}),
        sql_block("credit"),
        sql_block("account", identity={"id": "account_id"}),
    ]
    return config


def write(tmp_path: Path, config: dict[str, Any], name: str = "screenpop.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def rename_key(block: dict[str, Any], old: str, new: str) -> None:
    block[new] = block.pop(old)


def test_a_typo_inside_a_connector_suggests_from_every_key_valid_there(tmp_path: Path) -> None:
    """`identiy:` in the third connector names it `connectors[2] (account)` and suggests `identity`.

    The keys listed are every key a `sql` connector block takes: the common
    ones (identity, display, needs, timeout_ms, …) as well as the kind's own.
    """
    config = newcomer_config(tmp_path)
    rename_key(config["connectors"][2], "identity", "identiy")
    line = one_sentence(run("check", "--config", str(write(tmp_path, config))))
    assert "connectors[2] (account).identiy: unknown key `identiy`; did you mean `identity`?" in line
    listed = line.split("Known keys here: ")[1].rstrip(".").split(", ")
    common = [f.alias or n for n, f in ConnectorSettings.model_fields.items() if not f.exclude]
    assert {"identity", "display", "needs", "timeout_ms"} <= set(listed)
    assert set(common) | set(SqlOptions.model_fields) == set(listed)


TYPOS = [
    # (path to the block, key to misspell, typo, the path the message names)
    ((), "server", "serer", "serer"),
    (("server",), "allowed_origins", "allowed_origin", "server.allowed_origin"),
    (("agents", "directory", 0), "role", "rol", "agents.directory[0] (agent-1).rol"),
    (("roles", "tier1"), "hide", "hdie", "roles.tier1.hdie"),
    (("providers", 0), "secret", "secrt", "providers[0] (pbx).secrt"),
    (("lines", 0), "queue", "queu", "lines[0] (Main line).queu"),
    (("card",), "deadline_ms", "deadlin_ms", "card.deadlin_ms"),
    (("connectors", 0), "query", "querry", "connectors[0] (accounting).querry"),
    (("connectors", 0), "circuit", "circiut", "connectors[0] (accounting).circiut"),
    (("connectors", 0, "circuit"), "failures", "failurs", "connectors[0] (accounting).circuit.failurs"),
    (("connectors", 0, "display"), "title", "titel", "connectors[0] (accounting).display.titel"),
    (
        ("connectors", 0, "display", "fields", "balance"),
        "label",
        "lable",
        "connectors[0] (accounting).display.fields.balance.lable",
    ),
    (
        ("connectors", 0, "display", "badges", 0),
        "level",
        "levle",
        "connectors[0] (accounting).display.badges[0].levle",
    ),
]


@pytest.mark.parametrize(("where", "key", "typo", "path"), TYPOS, ids=[t[2] for t in TYPOS])
def test_every_unknown_key_at_every_depth_gets_did_you_mean(
    tmp_path: Path, where: tuple[str | int, ...], key: str, typo: str, path: str
) -> None:
    """A misspelt key anywhere is refused at its named path with the key it was meant to be."""
    config = newcomer_config(tmp_path)
    block: Any = config
    for part in where:
        block = block[part]
    rename_key(block, key, typo)
    line = one_sentence(run("lookup", ADA, "--config", str(write(tmp_path, config))))
    assert f": {path}: unknown key `{typo}`; did you mean `{key}`?" in line


def test_a_typo_in_a_badge_names_the_unknown_key_not_only_the_missing_one(tmp_path: Path) -> None:
    """`feild:` in a badge says the unknown key, suggests `field`, and that `field` is required."""
    config = newcomer_config(tmp_path)
    rename_key(config["connectors"][0]["display"]["badges"][0], "field", "feild")
    line = one_sentence(run("serve", "--config", str(write(tmp_path, config))))
    where = "connectors[0] (accounting).display.badges[0].feild"
    assert f"{where}: unknown key `feild`; did you mean `field`? (`field` is required here)" in line
    badge_keys = [f.alias or n for n, f in BadgeRule.model_fields.items()]
    assert line.endswith(f"Known keys here: {', '.join(badge_keys)}.")


def test_a_hash_inside_a_flow_mapping_points_at_the_brace_and_the_comment(tmp_path: Path) -> None:
    """An unquoted `#` inside `{…}` is named where the mapping opened and where the comment starts."""
    body = (
        "agents:\n"
        f"  token_secret: {SECRET}\n"
        "connectors:\n"
        "  - name: account\n"
        "    kind: sql\n"
        "    url: sqlite+aiosqlite:///x.db\n"
        "    query: SELECT 1\n"
        "    display: {title: Account #1, fields: {balance: {label: Balance}}}\n"
        "    timeout_ms: 800\n"
    )
    path = tmp_path / "hash.yaml"
    path.write_text(body)
    lines = body.splitlines()
    row = next(i for i, line in enumerate(lines) if "#" in line)
    brace, comment = lines[row].index("{"), lines[row].index("#")
    line = one_sentence(run("check", "--config", str(path)))
    assert f"flow mapping `{{` opened at line {row + 1}, column {brace + 1}" in line
    assert f"the `#` at line {row + 1}, column {comment + 1} starts a comment" in line
    assert "quote the value" in line


def account_database(path: Path) -> dict[str, Any]:
    """A SQLite accounts table holding Ada; returns her row as the connector should show it."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE accounts (account_id TEXT, name TEXT, phone TEXT, balance REAL)")
        db.execute("INSERT INTO accounts VALUES ('A-7', 'Ada Lovelace', ?, 120.5)", (ADA,))
        db.execute("CREATE TABLE credit (account_id TEXT, credit_limit INTEGER)")
        db.execute("INSERT INTO credit VALUES ('A-7', 5000)")
    return {"account_id": "A-7", "name": "Ada Lovelace", "balance": 120.5}


SHARED_URL_CONFIG = """\
x-db: &db ${FIRST_HOUR_DB_URL}      # written once, used by both connectors
server: {port: @PORT@, allowed_origins: ["http://agents.example"]}
store: {url: "sqlite+aiosqlite:///@STORE@"}
agents:
  token_secret: ${SCREENPOP_AGENT_SECRET}
  directory: [{id: agent-1, role: supervisor, queues: [support]}]
roles: {supervisor: {}}
providers:
  - {name: pbx, kind: generic, secret: "${PBX_WEBHOOK_SECRET}"}
  - {name: twilio, kind: twilio, auth_token: "${TWILIO_AUTH_TOKEN}"}
connectors:
  - name: accounting
    kind: sql
    url: *db
    query: SELECT account_id, name, balance FROM accounts WHERE phone = :e164
    identity: {id: account_id, name: name}
  - name: credit
    kind: sql
    url: *db
    needs: [accounting.account_id]
    query: SELECT credit_limit FROM credit WHERE account_id = :accounting_account_id
"""


@pytest.fixture
def shared_url_service(tmp_path: Path) -> Iterator[tuple[int, Path, dict[str, str], dict[str, Any]]]:
    """`screenpop serve` of a config sharing one database URL through a YAML anchor, every variable set."""
    ada = account_database(tmp_path / "company.db")
    port = free_port()
    config = tmp_path / "screenpop.yaml"
    config.write_text(
        SHARED_URL_CONFIG.replace("@PORT@", str(port)).replace("@STORE@", f"{tmp_path}/store.db")
    )
    env = {
        "SCREENPOP_AGENT_SECRET": SECRET,
        "PBX_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TWILIO_AUTH_TOKEN": "twilio-auth-token-of-this-test",
        "FIRST_HOUR_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/company.db",
    }
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    process = subprocess.Popen(
        [sys.executable, "-m", "screenpop", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**base, **env},
    )
    try:
        wait_ready(port, process)
        yield port, config, env, ada
    finally:
        stop(process)


async def complete_card(port: int, token: str, send: Any) -> dict[str, Any]:
    """Open an agent socket, run ``send()`` (in a thread), and return the complete card it receives."""
    origin: Any = "http://agents.example"
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", origin=origin) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
        sent = await asyncio.to_thread(send)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("202 ")
        async with asyncio.timeout(15):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "card" and frame["complete"]:
                    return dict(frame["card"])


async def test_call_needs_only_the_provider_secret_and_anchors_share_one_url(
    shared_url_service: tuple[int, Path, dict[str, str], dict[str, Any]],
) -> None:
    """`screenpop call` in a second terminal with only PBX_WEBHOOK_SECRET set pops a card on serve.

    Neither the agents' secret, nor the other provider's, nor the databases'
    URL is set in that terminal.

    The service's two connectors read one database URL written once as a YAML
    anchor in an `x-` key; both sections come from that database.
    """
    port, config, env, ada = shared_url_service
    only_provider = {"PBX_WEBHOOK_SECRET": env["PBX_WEBHOOK_SECRET"]}
    url = f"http://127.0.0.1:{port}"

    def send() -> subprocess.CompletedProcess[str]:
        return run(
            "call", ADA, "--agent", "agent-1", "--url", url, "--config", str(config), env=only_provider
        )

    card = await complete_card(port, host_token(SECRET, "agent-1"), send)
    sections = card["sections"]
    assert sections["accounting"]["status"] == "ok", sections
    assert {k: sections["accounting"]["data"][k] for k in ada} == ada
    assert sections["credit"]["status"] == "ok" and sections["credit"]["data"] == {"credit_limit": 5000}


def test_a_command_still_names_a_variable_it_does_use(
    shared_url_service: tuple[int, Path, dict[str, str], dict[str, Any]],
) -> None:
    """`call` without the provider's secret, and `token` without the agent secret, each name that variable."""
    port, config, env, _ = shared_url_service
    url = f"http://127.0.0.1:{port}"
    call = one_sentence(run("call", ADA, "--url", url, "--config", str(config), env={}))
    assert "providers[0] (pbx).secret: environment variable PBX_WEBHOOK_SECRET is not set" in call
    other = one_sentence(
        run("call", ADA, "--provider", "twilio", "--url", url, "--config", str(config), env={})
    )
    assert "providers[1] (twilio).auth_token: environment variable TWILIO_AUTH_TOKEN is not set" in other
    only_provider = {"PBX_WEBHOOK_SECRET": env["PBX_WEBHOOK_SECRET"]}
    token = one_sentence(run("token", "agent-1", "--config", str(config), env=only_provider))
    assert "agents.token_secret: environment variable SCREENPOP_AGENT_SECRET is not set" in token
    minted = run("token", "agent-1", "--config", str(config), env={"SCREENPOP_AGENT_SECRET": SECRET})
    assert minted.returncode == 0, minted.stderr
    assert minted.stdout.count(".") == 2  # a JWT, without the database URL set


SECRET_PLACES = [
    ("agents", "token_secret", "${SCREENPOP_AGENT_SECRET}", "SCREENPOP_AGENT_SECRET"),
    ("providers", "secret", "${PBX_WEBHOOK_SECRET}", "PBX_WEBHOOK_SECRET"),
    ("headers", "Authorization", "Bearer ${CRM_TOKEN}", "CRM_TOKEN"),
    ("store", "url", "postgresql+asyncpg://app:${DB_PASSWORD}@127.0.0.1/app", "DB_PASSWORD"),
]


@pytest.mark.parametrize(
    ("block", "key", "value", "variable"), SECRET_PLACES, ids=[s[3] for s in SECRET_PLACES]
)
def test_a_missing_secret_is_never_offered_a_default(
    tmp_path: Path, block: str, key: str, value: str, variable: str
) -> None:
    """An unset variable in a secret names it and never suggests `${NAME:-default}`."""
    config = newcomer_config(tmp_path)
    if block == "agents":
        config["agents"]["token_secret"] = value
    elif block == "providers":
        config["providers"][0]["secret"] = value
    elif block == "headers":
        config["connectors"].append(
            {"name": "crm", "kind": "http", "url": "http://127.0.0.1:1/", block: {key: value}}
        )
    else:
        config["store"] = {key: value}
    line = one_sentence(run("check", "--config", str(write(tmp_path, config))))
    assert f"environment variable {variable} is not set" in line
    assert ":-" not in line and "default}" not in line
    assert "secret" in line


def test_a_missing_setting_that_is_not_a_secret_may_get_a_default(tmp_path: Path) -> None:
    """An unset variable in a plain setting (a port) is offered `${NAME:-default}`."""
    config = newcomer_config(tmp_path)
    config["server"]["port"] = "${FIRST_HOUR_PORT}"
    line = one_sentence(run("check", "--config", str(write(tmp_path, config))))
    assert "server.port: environment variable FIRST_HOUR_PORT is not set" in line
    assert "${FIRST_HOUR_PORT:-default}" in line


def test_token_refuses_an_undefined_role_and_names_the_defined_ones(tmp_path: Path) -> None:
    """`screenpop token --role bogus` prints no token, exits 2, and lists the roles under `roles:`."""
    config = newcomer_config(tmp_path)
    line = one_sentence(run("token", "agent-1", "--role", "bogus", "--config", str(write(tmp_path, config))))
    assert "'bogus'" in line
    for role in config["roles"]:
        assert role in line.split("defined:")[1]


def test_an_x_key_holds_anchors_and_other_top_level_keys_are_still_refused(tmp_path: Path) -> None:
    """An `x-`-prefixed top-level key is not a config error; the same key without `x-` is."""
    db = tmp_path / "company.db"
    account_database(db)
    head = f"x-db: &db sqlite+aiosqlite:///{db}\n"
    config = newcomer_config(tmp_path)
    config["connectors"] = [sql_block("accounting"), sql_block("credit")]
    body = yaml.safe_dump(config, sort_keys=False).replace("sqlite+aiosqlite:///unused.db", "*db")
    good = tmp_path / "good.yaml"
    good.write_text(head + body)
    result = run("lookup", ADA, "--json", "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sections"]["accounting"]["status"] == "ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text(head.replace("x-db", "db") + body)
    line = one_sentence(run("lookup", ADA, "--config", str(bad)))
    assert ": db: unknown key `db`" in line
    assert line.endswith("(a top-level key that only holds YAML anchors must start with `x-`)")


READABLE = ["(415) 555-0131", "415.555.0177 x12", "+1 (646) 555-0140", "+49 30 1234567", "415-555-0131"]
UNREADABLE = ["n/a", "ask reception", "12", "see notes", "n/a"]


async def _load_customers(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("CREATE TABLE customers (id integer PRIMARY KEY, phone text, mobile text)")
            )
            pairs = [*zip(READABLE, UNREADABLE, strict=True), ("", None)]
            for index, (phone, mobile) in enumerate(pairs, start=1):
                await connection.execute(
                    text("INSERT INTO customers VALUES (:id, :phone, :mobile)"),
                    {"id": index, "phone": phone, "mobile": mobile},
                )
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_check_shows_a_normalized_index_size_and_its_unreadable_numbers(pg_url: str, tmp_path: Path) -> None:
    """`screenpop check` on PostgreSQL free-form numbers says how many it indexed and could not read.

    The examples are shown to IT in the terminal and never written to the log.
    """
    asyncio.run(_load_customers(pg_url))
    config = newcomer_config(tmp_path)
    config["connectors"] = [
        {
            "name": "crm",
            "kind": "sql",
            "url": pg_url,
            "match": "normalized",
            "index_query": "SELECT id, phone, mobile FROM customers ORDER BY id",
            "query": "SELECT id FROM customers WHERE id IN :keys",
            "timeout_ms": 5000,
        }
    ]
    config["roles"] = {"tier1": {}, "supervisor": {}}
    result = run("--debug", "check", "--config", str(write(tmp_path, config)))
    numbers = {
        phonenumbers.format_number(phonenumbers.parse(t, "US"), phonenumbers.PhoneNumberFormat.E164)
        for t in READABLE
    }
    examples = ", ".join(repr(t) for t in dict.fromkeys(UNREADABLE[:3]))
    row = next(line for line in result.stdout.splitlines() if line.startswith("connector crm"))
    assert " ok " in row, result.stdout
    rows = len(READABLE) + 1
    assert row.endswith(
        f"reachable; index of {len(numbers)} numbers from {rows} rows; "
        f"{len(UNREADABLE)} stored numbers could not be read, e.g. {examples}"
    ), row
    assert f"({len(UNREADABLE)} stored numbers unreadable)" in result.stderr  # the log: counts only
    assert "ask reception" not in result.stderr and "see notes" not in result.stderr
