"""`screenpop lookup NUMBER --trace`: what each connector ran, with what, what came back, and why not.

The command runs as a real process against a real SQLite file, the test
PostgreSQL server (whose URL carries a password) and a real HTTP API on
loopback whose URL and headers carry secrets.  Expected rows are read with
sqlite3 directly; secrets are checked absent from everything printed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url

from screenpop.config import Settings
from tests.support.processes import screenpop_command
from tests.support.service import SECRET, api, make, running
from tests.support.tokens import token_for

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 60
ADA = "+14155550132"
NOBODY = "+14155550100"
API_KEY = "apikey-5e3cr3t-771"
BEARER = "bearer-t0ken-9f8e7d"
LONG = "x" * 1000
PG_PASSWORD = "pg-pa55-s3cret"  # the test cluster trusts loopback: a password in the URL is shown, never used


def _accounting_db(path: Path) -> None:
    """Ada with one account, and a customer with many invoices (more rows than a trace shows)."""
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE accounts (account_id TEXT, name TEXT, phone TEXT, memo TEXT);"
        "CREATE TABLE invoices (account_id TEXT, invoice_no INTEGER, amount REAL);"
    )
    db.execute("INSERT INTO accounts VALUES ('A-1', 'Ada Lovelace', ?, ?)", (ADA, LONG))
    db.executemany("INSERT INTO invoices VALUES ('A-1', ?, ?)", [(n, n * 10.0) for n in range(1, 13)])
    db.commit()
    db.close()


def _config(tmp: Path, api: str, pg_url: str) -> Path:
    sqlite_url = f"sqlite+aiosqlite:///{tmp / 'accounting.db'}"
    config = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp / 'store.db'}"},
        "agents": {"token_secret": SECRET, "directory": [{"id": "agent-1", "role": "supervisor"}]},
        "roles": {"supervisor": {}},
        "providers": [],
        "card": {"deadline_ms": 5000},
        "connectors": [
            {
                "name": "accounting",
                "kind": "sql",
                "url": sqlite_url,
                "query": "SELECT account_id, name, memo FROM accounts WHERE phone = :e164",
            },
            {
                "name": "invoices",
                "kind": "sql",
                "url": sqlite_url,
                "rows": "many",
                "needs": ["accounting.account_id"],
                "query": "SELECT invoice_no, amount FROM invoices WHERE account_id = :accounting_account_id"
                " ORDER BY invoice_no",
            },
            {
                "name": "pg",
                "kind": "sql",
                "url": make_url(pg_url).set(password=PG_PASSWORD).render_as_string(hide_password=False),
                "query": "SELECT :e164 AS asked, 42 AS answer",
            },
            {
                "name": "crm",
                "kind": "http",
                "url": f"{api}/contacts?phone={{e164}}&api_key={API_KEY}",
                "headers": {"Authorization": f"Bearer {BEARER}", "Accept": "application/json"},
                "select": {"name": "$.items[0].full_name"},
            },
            {
                "name": "offer",
                "kind": "rules",
                "needs": ["accounting.account_id"],
                "rules": [
                    {"when": {"attr_tier": {"equals": "gold"}}, "then": {"say": "Offer the gold plan"}}
                ],
            },
        ],
    }
    path = tmp / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _contacts(request: web.Request) -> web.Response:
    if request.query.get("phone") == ADA:
        return web.json_response({"items": [{"full_name": "Ada Lovelace", "note": LONG}]})
    return web.json_response({"items": []})


async def _lookup(tmp: Path, pg_url: str, *args: str) -> tuple[int, str, str]:
    """Run the real command while the HTTP API answers in this process."""
    _accounting_db(tmp / "accounting.db")
    app = web.Application()
    app.router.add_get("/contacts", _contacts)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        config = _config(tmp, str(server.make_url("")).rstrip("/"), pg_url)
        return await screenpop_command("lookup", *args, "--config", str(config), within=RUN_TIMEOUT_S)
    finally:
        await server.close()


def _no_secret(text: str) -> None:
    for secret in (API_KEY, BEARER, PG_PASSWORD):
        assert secret not in text


async def test_json_trace_shows_statements_parameters_rows_and_masks_secrets(
    tmp_path: Path, pg_url: str
) -> None:
    """--trace --json: each connector's statement or URL, bound parameters and raw rows, no secret."""
    code, out, err = await _lookup(tmp_path, pg_url, ADA, "--trace", "--json")
    assert code == 0, err
    trace: dict[str, Any] = json.loads(out)["trace"]
    assert list(trace) == ["accounting", "invoices", "pg", "crm", "offer"]
    assert trace["offer"]["status"] == "not_found"  # the call has no attribute tier
    assert trace["offer"]["why"] == "not found: no rule's conditions hold (1 rule checked)"
    assert trace["offer"]["steps"][0]["failed"] == ["attr_tier equals 'gold': the call has None"]

    (query,) = trace["accounting"]["steps"]
    assert query["what"] == "query"
    assert query["statement"] == "SELECT account_id, name, memo FROM accounts WHERE phone = :e164"
    assert query["params"] == {"e164": ADA}
    assert query["rows_read"] == 1
    assert query["rows"][0]["account_id"] == "A-1"
    assert query["rows"][0]["memo"].startswith("x" * 200) and "(1000 characters)" in query["rows"][0]["memo"]
    assert isinstance(query["elapsed_ms"], float)

    invoices = trace["invoices"]["steps"][0]
    assert invoices["params"] == {"accounting_account_id": "A-1"}
    expected = sqlite3.connect(tmp_path / "accounting.db").execute(
        "SELECT invoice_no, amount FROM invoices WHERE account_id = 'A-1' ORDER BY invoice_no"
    )
    wanted = [{"invoice_no": n, "amount": a} for n, a in expected.fetchall()]
    assert invoices["rows_read"] == len(wanted) == 12
    assert invoices["rows"][:5] == wanted[:5]
    assert invoices["rows"][5] == "… 7 more"

    pg = trace["pg"]["steps"][0]
    assert pg["database"].startswith("postgresql+asyncpg://") and ":***@" in pg["database"]
    assert pg["rows"] == [{"asked": ADA, "answer": 42}]

    request = trace["crm"]["steps"][0]
    assert request["method"] == "GET"
    assert "api_key=***" in request["url"] and "phone=%2B14155550132" in request["url"]
    assert request["headers"] == {"Authorization": "***", "Accept": "application/json"}
    assert request["status"] == 200
    assert request["response"]["items"][0]["full_name"] == "Ada Lovelace"
    _no_secret(out + err)


async def test_text_trace_says_why_a_section_is_empty(tmp_path: Path, pg_url: str) -> None:
    """For an unknown caller the text trace says no row matched, and that `invoices` waited on it."""
    code, out, err = await _lookup(tmp_path, pg_url, NOBODY, "--trace")
    assert code == 0, err
    blocks = {block.split(" ", 1)[0]: block for block in out.split("\n\n") if "(" in block.split("\n")[0]}
    assert "accounting (sql): not_found" in blocks["accounting"]
    assert "why: not found: the query returned no row" in blocks["accounting"]
    assert f"params: e164={NOBODY}" in blocks["accounting"]
    assert "why: skipped: needs accounting.account_id (accounting was not_found)" in blocks["invoices"]
    assert "query (" not in blocks["invoices"]  # it never ran
    assert "why: not found: nothing in the answer matched `select`" in blocks["crm"]
    assert "status: 200" in blocks["crm"]
    _no_secret(out + err)


async def test_without_trace_nothing_is_traced(tmp_path: Path, pg_url: str) -> None:
    """Without --trace the JSON card has no trace and the statements appear nowhere."""
    code, out, err = await _lookup(tmp_path, pg_url, ADA, "--json")
    assert code == 0, err
    card = json.loads(out)
    assert "trace" not in card
    assert card["sections"]["accounting"]["status"] == "ok"
    assert "FROM accounts" not in out


def _service_settings(tmp: Path) -> Settings:
    """The service with real SQLite connectors, a tier1 role hiding `invoices`, and a lookup-only role."""
    _accounting_db(tmp / "accounting.db")
    sqlite_url = f"sqlite+aiosqlite:///{tmp / 'accounting.db'}"
    return make(
        f"sqlite+aiosqlite:///{tmp / 'store.db'}",
        roles={"tier1": {"hide": ["invoices"]}, "supervisor": {}, "desk": {"lookup": True}},
        agents={
            "token_secret": SECRET,
            "directory": [
                {"id": "agent-1", "role": "tier1"},
                {"id": "agent-3", "role": "supervisor"},
                {"id": "agent-4", "role": "desk"},
            ],
        },
        connectors=[
            {
                "name": "accounting",
                "kind": "sql",
                "url": sqlite_url,
                "query": "SELECT account_id, name FROM accounts WHERE phone = :e164",
                "cache_ttl_s": 60,
            },
            {
                "name": "invoices",
                "kind": "sql",
                "url": sqlite_url,
                "rows": "many",
                "needs": ["accounting.account_id"],
                "query": "SELECT invoice_no FROM invoices WHERE account_id = :accounting_account_id",
            },
        ],
    )


async def test_api_lookup_trace_for_an_admin_role_as_another_role(tmp_path: Path) -> None:
    """trace=1 adds each connector's trace (run afresh, uncached); role=tier1 hides what tier1 may not see."""
    settings = _service_settings(tmp_path)
    admin = token_for(settings, "agent-3")
    path = f"/api/lookup?number={quote(ADA)}"
    async with running(settings) as base:
        status, first = await api(base, "GET", path, admin)
        assert status == 200 and "trace" not in first
        status, body = await api(base, "GET", f"{path}&trace=1&role=tier1", admin)
    assert status == 200, body
    assert body["as_role"] == "tier1"
    assert set(body["sections"]) == {"accounting"}  # the card as tier1 sees it
    assert body["sections"]["accounting"]["data"]["account_id"] == "A-1"
    assert not body["sections"]["accounting"].get("cached")  # traced: looked up afresh, not from the cache
    step = body["trace"]["accounting"]["steps"][0]
    assert step["statement"] == "SELECT account_id, name FROM accounts WHERE phone = :e164"
    assert step["params"] == {"e164": ADA}
    assert step["rows"] == [{"account_id": "A-1", "name": "Ada Lovelace"}]
    assert body["trace"]["invoices"]["steps"][0]["rows_read"] == 12  # the asker (supervisor) may see it


async def test_api_lookup_trace_needs_admin_and_refuses_bad_parameters(tmp_path: Path) -> None:
    """A lookup-only role gets the card but 403 for trace=1; tier1 gets 403; unknown role or flag is 400."""
    settings = _service_settings(tmp_path)
    path = f"/api/lookup?number={quote(ADA)}"
    async with running(settings) as base:
        desk = token_for(settings, "agent-4")
        assert (await api(base, "GET", path, desk))[0] == 200
        status, body = await api(base, "GET", f"{path}&trace=1", desk)
        assert (status, body["error"]["code"]) == (403, "forbidden")
        status, body = await api(base, "GET", f"{path}&trace=1", token_for(settings, "agent-1"))
        assert (status, body["error"]["code"]) == (403, "forbidden")
        admin = token_for(settings, "agent-3")
        status, body = await api(base, "GET", f"{path}&role=nobody", admin)
        assert (status, body["error"]["code"]) == (400, "bad_request")
        assert "tier1" in body["error"]["message"]
        status, body = await api(base, "GET", f"{path}&trace=yes", admin)
        assert (status, body["error"]["code"]) == (400, "bad_request")
