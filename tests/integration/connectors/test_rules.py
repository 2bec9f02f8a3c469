"""The `rules` kind: a decision table over bound parameters, through the real fan-out and config."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.call_context import CallContext
from screenpop.config import Settings
from screenpop.connector_api import ConnectorContext, ConnectorTrace, tracing
from screenpop.connectors.rules import RulesConnector
from screenpop.errors import ConfigError
from screenpop.lookup import LookupEngine
from screenpop.model import NUMBER_PARAMETERS, Section, SectionStatus
from screenpop.phone import parse_caller
from screenpop.plugins import build_connectors, connector_context
from screenpop.testing import make_settings

ADA = "+14155550132"  # overdue 120.5, rating B
GRACE = "+12125550147"  # nothing overdue, rating A
ALAN = "+13125550178"  # nothing overdue, rating C
NOBODY = "+16175550100"

OFFER_RULES: list[dict[str, Any]] = [
    {
        "when": {"accounting_overdue": {"above": 0}},
        "then": {"terms": "Prepayment only", "say": "Ask about the overdue {accounting_overdue} first"},
    },
    {
        "when": {"accounting_rating": {"in": ["A", "B"]}},
        "then": {"terms": "Net 45", "max_order": "{accounting_credit_limit}", "vip": True},
    },
    {"when": {"accounting_rating": {"equals": "C"}, "region": {"equals": "US"}}, "then": {"terms": "Net 30"}},
]


def context() -> ConnectorContext:
    return ConnectorContext(default_region="US", normalize=lambda number: number)


async def answer(rules: list[dict[str, Any]], **params: Any) -> dict[str, Any] | None:
    connector = RulesConnector("offer", {"rules": rules}, context())
    return (await connector.lookup(params)).data


async def test_first_matching_rule_wins_and_numbers_it() -> None:
    """Rules are tried in order: the first that holds answers, with its 1-based number."""
    rules = [
        {"when": {"x": {"above": 10}}, "then": {"say": "big"}},
        {"when": {"x": {"above": 0}}, "then": {"say": "positive"}},
        {"then": {"say": "anything"}},
    ]
    assert await answer(rules, x=50) == {"say": "big", "rule": 1}
    assert await answer(rules, x=5) == {"say": "positive", "rule": 2}
    assert await answer(rules, x=-1) == {"say": "anything", "rule": 3}


async def test_every_condition_kind_and_all_must_hold() -> None:
    """above, below, equals and in each decide a rule, and a rule needs every one of its conditions."""
    rules = [
        {"when": {"a": {"above": 1}, "b": {"below": 5}}, "then": {"r": "above+below"}},
        {"when": {"c": {"equals": "gold"}}, "then": {"r": "equals"}},
        {"when": {"d": {"in": [1, 2]}}, "then": {"r": "in"}},
    ]
    assert await answer(rules, a=2, b=4) == {"r": "above+below", "rule": 1}
    assert await answer(rules, a=2, b=6, c="Gold") == {"r": "equals", "rule": 2}
    assert await answer(rules, a=0, b=1, d=2) == {"r": "in", "rule": 3}
    assert await answer(rules, a=2, b=9, c="silver", d=3) is None
    assert await answer(rules) is None  # nothing bound: no condition holds


async def test_templates_fill_in_and_a_lone_template_keeps_its_type() -> None:
    """`{param}` inside a text is filled in; a text that is exactly one `{param}` keeps the value's type."""
    rules = [
        {
            "then": {
                "limit": "{limit}",
                "flag": "{flag}",
                "say": "Offer up to {limit} ({flag}) to {who}",
                "missing": "{attr_tier}",
                "n": 3,
                "ok": False,
            }
        }
    ]
    data = await answer(rules, limit=5000, flag=True, who="Ada")
    assert data == {
        "limit": 5000,
        "flag": True,
        "say": "Offer up to 5000 (true) to Ada",
        "missing": None,
        "n": 3,
        "ok": False,
        "rule": 1,
    }
    assert type(data["limit"]) is int


async def test_a_number_in_a_sentence_takes_a_format_spec() -> None:
    """`{param:,.2f}` formats a number (a Decimal too) inside a sentence; other values ignore it."""
    rules = [{"then": {"say": "Ask about the overdue ${owed:,.2f} first ({tier:>4})", "owed_raw": "{owed}"}}]
    data = await answer(rules, owed=Decimal("1204.5"), tier="gold")
    said = "Ask about the overdue $1,204.50 first (gold)"
    assert data == {"say": said, "owed_raw": Decimal("1204.5"), "rule": 1}
    data = await answer(rules, owed=7, tier=None)
    assert data is not None and data["say"] == "Ask about the overdue $7.00 first ()"


async def run_sql(url: str, *statements: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def accounting_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An accounting database (SQLite or PostgreSQL) with three customers of known standing."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'accounting.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    await run_sql(
        url,
        "CREATE TABLE accounts (phone TEXT, overdue NUMERIC(12,2), rating TEXT, credit_limit INTEGER)",
        "INSERT INTO accounts VALUES ('+14155550132', 120.50, 'B', 5000)",
        "INSERT INTO accounts VALUES ('+12125550147', 0, 'A', 8000)",
        "INSERT INTO accounts VALUES ('+13125550178', 0, 'C', 1000)",
    )
    return url


def offer_settings(url: str, rules: list[dict[str, Any]] | None = None) -> Settings:
    return make_settings(
        [
            {
                "name": "accounting",
                "kind": "sql",
                "url": url,
                "query": "SELECT overdue, rating, credit_limit FROM accounts WHERE phone = :e164",
            },
            {
                "name": "offer",
                "kind": "rules",
                "needs": ["accounting.overdue", "accounting.rating", "accounting.credit_limit"],
                "rules": rules or OFFER_RULES,
            },
        ]
    )


@pytest.fixture
async def engine_for() -> AsyncIterator[Any]:
    """Builds a real LookupEngine (connectors from their entry points) for given settings."""
    opened: list[Any] = []
    http = aiohttp.ClientSession()

    async def build(settings: Settings) -> LookupEngine:
        connectors = build_connectors(settings.connectors, connector_context("US", Path("."), http))
        for connector in connectors.values():
            await connector.start()
            opened.append(connector)
        engine = LookupEngine(settings, connectors)
        opened.append(engine)
        return engine

    yield build
    for thing in reversed(opened):
        await thing.close()
    await http.close()


async def offer_for(engine: LookupEngine, number: str) -> Section:
    sections = await engine.lookup(parse_caller(number, "US"))
    return sections["offer"]


async def test_rules_through_the_fan_out(accounting_url: str, engine_for: Any) -> None:
    """Bound from a real sql connector it needs, each caller gets the first rule that holds for them."""
    engine = await engine_for(offer_settings(accounting_url))
    ada = await offer_for(engine, ADA)
    assert ada.status.value == "ok"
    assert ada.data == {"terms": "Prepayment only", "say": "Ask about the overdue 120.5 first", "rule": 1}
    grace = await offer_for(engine, GRACE)
    assert grace.data == {"terms": "Net 45", "max_order": 8000, "vip": True, "rule": 2}
    alan = await offer_for(engine, ALAN)
    assert alan.data == {"terms": "Net 30", "rule": 3}


async def test_no_rule_holds_is_not_found(accounting_url: str, engine_for: Any) -> None:
    """A caller for whom no rule holds gets a not_found section; an unknown caller's rules are skipped."""
    rules = [{"when": {"accounting_rating": {"equals": "Z"}}, "then": {"terms": "never"}}]
    engine = await engine_for(offer_settings(accounting_url, rules))
    assert (await offer_for(engine, ADA)).status.value == "not_found"
    nobody = await offer_for(engine, NOBODY)
    assert nobody.status.value == "skipped"


def config_error(connector: dict[str, Any]) -> str:
    base = {"name": "accounting", "kind": "sql", "url": "sqlite+aiosqlite:///x.db", "query": "SELECT 1"}
    with pytest.raises(ConfigError) as caught:
        make_settings([base, {"name": "offer", "kind": "rules", **connector}])
    return str(caught.value)


def when(key: str, condition: dict[str, Any], **block: Any) -> dict[str, Any]:
    return {"rules": [{"when": {key: condition}, "then": {"t": 1}}], **block}


@pytest.mark.parametrize(
    ("block", "needles"),
    [
        (
            {
                "needs": ["accounting.rating"],
                "rules": [{"when": {"accounting_ratin": {"equals": "A"}}, "then": {"t": 1}}],
            },
            [
                "connectors[1] (offer).rules[0].when.accounting_ratin",
                "'accounting_ratin'",
                "did you mean 'accounting_rating'",
            ],
        ),
        (
            when("credit_rating", {"equals": "A"}),
            ["rules[0].when.credit_rating", "no connector or call binds", "needs"],
        ),
        (
            {"rules": [{"then": {"say": "Hello {customer_name}"}}]},
            ["rules[0].then.say", "'customer_name'"],
        ),
        (
            when("region", {"over": 1}),
            ["rules[0].when", "unknown condition 'over'"],
        ),
        (
            when("region", {"above": 1, "below": 3}),
            ["rules[0].when", "exactly one"],
        ),
        (
            when("region", {"above": "x"}),
            ["rules[0].when", "takes a number"],
        ),
        (
            when("region", {"in": []}),
            ["rules[0].when", "non-empty list"],
        ),
        ({"rules": [{"when": {"region": {"equals": "US"}}, "then": {}}]}, ["rules[0].then"]),
        ({"rules": [{"when": {"region": {"equals": "US"}}}]}, ["rules[0].then", "required"]),
        ({"rules": [{"then": {"items": [1, 2]}}]}, ["rules[0].then: items", "a number, a boolean or a text"]),
        ({"rules": [{"then": {"rule": 7}}]}, ["rules[0].then", "`rule`"]),
        (
            {"rules": [{"then": {"say": "Owes {region:.2q} now"}}]},
            ["rules[0].then: say", "'.2q' is not a number format"],
        ),
        ({"rules": [{"then": {"limit": "{region:,.2f}"}}]}, ["rules[0].then: limit", "lone {param}"]),
        ({"rules": []}, ["rules"]),
        (
            {"cache_ttl_s": 30, "rules": [{"then": {"t": 1}}]},
            ["connectors[1] (offer).cache_ttl_s", "never cached"],
        ),
    ],
)
def test_config_errors_name_the_key(block: dict[str, Any], needles: list[str]) -> None:
    """A malformed rule, an unbound parameter or a cache on a rules connector is a config error at its key."""
    message = config_error(block)
    assert message.startswith("<test>: connectors[1] (offer)")
    for needle in needles:
        assert needle in message, message


def test_call_parameters_and_attributes_are_bindable() -> None:
    """Number forms, issue 12's direction/line/call_id and any attr_ key are accepted as `when` keys."""
    keys = [
        "e164",
        "national",
        "digits",
        "country_code",
        "region",
        "direction",
        "line",
        "call_id",
        "attr_reason",
    ]
    rules = [{"when": {key: {"equals": "x"}}, "then": {"t": 1}} for key in keys]
    settings = make_settings([{"name": "offer", "kind": "rules", "rules": rules}])
    assert len(settings.connector("offer").options.rules) == len(keys)
    assert set(parse_caller(ADA, "US").params()) == set(NUMBER_PARAMETERS)


async def test_a_rule_over_an_attribute_the_call_lacks_does_not_hold_and_the_table_runs(
    engine_for: Any,
) -> None:
    """Unlike a query, a decision table runs without the attribute: that rule just does not hold.

    A call without `attr_reason` gets the next rule (not a skipped section);
    one with it gets the rule about it; and an update of that attribute
    re-runs the table (it names the key).
    """
    rules = [
        {"when": {"attr_reason": {"equals": "billing"}}, "then": {"say": "Open the billing script"}},
        {"when": {"line": {"equals": ""}}, "then": {"say": "Greet the caller"}},
    ]
    settings = make_settings([{"name": "advice", "kind": "rules", "rules": rules}])
    engine = await engine_for(settings)
    caller = parse_caller(ADA, "US")
    plain = (await engine.lookup(caller, CallContext(call_id="c-1")))["advice"]
    billing = await engine.lookup(caller, CallContext(call_id="c-2", attributes={"reason": "billing"}))
    assert (plain.status, plain.data) == (SectionStatus.OK, {"say": "Greet the caller", "rule": 2})
    assert billing["advice"].data == {"say": "Open the billing script", "rule": 1}
    assert engine.uses_changed("advice", frozenset({"reason"}))


async def test_a_null_field_it_needs_is_a_condition_that_does_not_hold_not_a_skipped_table(
    accounting_url: str, engine_for: Any
) -> None:
    """A row with NULL in a field the table needs still gets its rule: the overdue warning, the default.

    The fan-out skipped the whole table when any `needs` field was NULL: a
    customer with an overdue balance but no credit rating got no warning.
    A caller unknown to the source (not found) still skips the table.
    """
    await run_sql(
        accounting_url,
        "INSERT INTO accounts VALUES ('+14155550190', 75, NULL, NULL)",
        "INSERT INTO accounts VALUES ('+14155550191', NULL, NULL, NULL)",
    )
    rules = [*OFFER_RULES, {"then": {"terms": "Net 30", "max_order": "{accounting_credit_limit}"}}]
    engine = await engine_for(offer_settings(accounting_url, rules))
    overdue = await offer_for(engine, "+14155550190")
    assert (overdue.status, overdue.data) == (
        SectionStatus.OK,
        {"terms": "Prepayment only", "say": "Ask about the overdue 75 first", "rule": 1},
    )
    blank = await offer_for(engine, "+14155550191")
    assert (blank.status, blank.data) == (SectionStatus.OK, {"terms": "Net 30", "max_order": None, "rule": 4})
    assert (await offer_for(engine, NOBODY)).status is SectionStatus.SKIPPED


async def test_a_number_stored_as_text_takes_the_format_spec_too() -> None:
    """A TEXT column's "1204.5" is a number in a condition, so it is one in ``{param:,.2f}`` as well."""
    rules = [{"when": {"acct_due": {"above": 1000}}, "then": {"say": "Ask about the ${acct_due:,.2f} due"}}]
    assert await answer(rules, acct_due="1204.5") == {"say": "Ask about the $1,204.50 due", "rule": 1}
    assert await answer(rules, acct_due=" 1e4 ") == {"say": "Ask about the $10,000.00 due", "rule": 1}
    rules = [{"then": {"say": "Ref {acct_ref:,.2f}"}}]  # text that is not a number keeps its spec-less text
    for ref in ("A-17", "NaN", "-Infinity"):
        assert await answer(rules, acct_ref=ref) == {"say": f"Ref {ref}", "rule": 1}


@pytest.mark.parametrize(
    "snippet",
    [
        "rules: [{when: {region: {in: [NO, SE, DK]}}, then: {terms: Nordic}}]",
        "rules: [{when: {direction: {equals: on}}, then: {terms: Nordic}}]",
        "rules: [{when: {sales_country: {in: [NO, SE, DK]}}, then: {terms: Nordic}}]",  # a data field too
    ],
)
def test_a_yaml_boolean_against_a_text_call_parameter_is_a_config_error(snippet: str) -> None:
    """Unquoted ``NO`` (Norway) is YAML's false, which a region (a text) never equals: refused at load."""
    message = config_error(yaml.safe_load(snippet))  # the config loader is a SafeLoader too
    assert "rules[0].when" in message and "a YAML boolean" in message and "quote it" in message, message


async def test_a_quoted_region_and_an_attribute_boolean_still_hold() -> None:
    """Quoted, ``'NO'`` is Norway's region; an ``attr_`` may be a boolean, so ``equals: true`` stays valid."""
    rules = yaml.safe_load(
        "[{when: {region: {in: ['NO', SE]}}, then: {terms: Nordic}},"
        " {when: {attr_vip: {equals: yes}}, then: {t: 1}}]"
    )
    assert await answer(rules, region="NO") == {"terms": "Nordic", "rule": 1}
    assert await answer(rules, region="US", attr_vip=True) == {"t": 1, "rule": 2}


def test_a_secret_attribute_in_a_then_template_is_a_config_error() -> None:
    """``{attr_secret_pin}`` in `then` would put the IVR's PIN on every recipient's card: refused at load."""
    message = config_error({"rules": [{"then": {"say": "PIN {attr_secret_pin} checked"}}]})
    assert "rules[0].then" in message and "secret" in message and "`when`" in message, message
    settings = make_settings(  # in `when` a secret decides without being shown: allowed
        [
            {
                "name": "offer",
                "kind": "rules",
                "rules": [{"when": {"attr_secret_pin": {"equals": "4321"}}, "then": {"ok": True}}],
            }
        ]
    )
    assert settings.connector("offer").options.rules


async def test_a_trace_of_a_rule_over_a_secret_never_shows_its_value() -> None:
    """`lookup --trace` says a secret condition failed, with the value masked as in the bound parameters."""
    rules = [{"when": {"attr_secret_pin": {"equals": "4321"}}, "then": {"ok": True}}]
    connector = RulesConnector("offer", {"rules": rules}, context())
    with tracing(ConnectorTrace()) as trace:
        assert (await connector.lookup({"attr_secret_pin": "9876"})).data is None
    shown = json.dumps([step.to_json() for step in trace.steps]) + json.dumps(trace.notes)
    assert "9876" not in shown and "***" in shown, shown
