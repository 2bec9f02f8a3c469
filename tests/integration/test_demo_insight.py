"""config/demo.yaml's advice over freshly written demo databases, through the real lookup engine.

The insight (``kind: purchases``) and offer (``kind: rules``) sections are
computed from facts only; every number in a reason is recomputed here with
sqlite3 straight from the demo databases, so advice that drifts from the
data fails.  The engine is opened as ``screenpop lookup`` opens it, which
waits (bounded) for the purchase model before the one-off lookup.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from screenpop.cli.bootstrap import MODEL_WAIT_S, open_engine
from screenpop.config import Settings, load_settings
from screenpop.demo import DEMO_CUSTOMERS, write_demo_databases
from screenpop.model import Section, SectionStatus
from screenpop.phone import parse_caller

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
ADA, GRACE, BABBAGE, HOLLERITH, TURING, ZUSE = DEMO_CUSTOMERS
Sections = dict[str, Section]
FAILED_BUILD_WITHIN_S = 20  # a lookup whose first model build failed is answered well within this


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo, written today (the day the purchase model advises for)."""
    directory = tmp_path_factory.mktemp("demo")
    write_demo_databases(directory)
    return directory


def settings_for(demo_dir: Path, config: Path = CONFIG) -> Settings:
    return load_settings(config, environ={"SCREENPOP_DEMO_DIR": str(demo_dir)})


async def look_up_everyone(settings: Settings) -> dict[str, Sections]:
    found: dict[str, Sections] = {}
    async with open_engine(settings) as engine:
        for customer in DEMO_CUSTOMERS:
            found[customer.name] = await engine.lookup(parse_caller(customer.e164, "US"))
    return found


@pytest.fixture(scope="module")
def cards(demo_dir: Path) -> dict[str, Sections]:
    """Every documented customer's sections, from one engine opened as `screenpop lookup` opens it."""
    return asyncio.run(look_up_everyone(settings_for(demo_dir)))


def rows(demo_dir: Path, database: str, sql: str, *params: Any) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"file:{demo_dir / database}.db?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return list(connection.execute(sql, params))
    finally:
        connection.close()


def order_days(demo_dir: Path, customer_id: str, sku: str) -> list[date]:
    """The days a sales customer ordered a product, oldest first."""
    found = rows(
        demo_dir,
        "sales",
        "SELECT DISTINCT o.ordered_on FROM orders o JOIN order_lines l ON l.order_id = o.order_id "
        "WHERE o.customer_id = ? AND l.sku = ? ORDER BY o.ordered_on",
        customer_id,
        sku,
    )
    return [date.fromisoformat(r["ordered_on"]) for r in found]


def usual_quantity(demo_dir: Path, customer_id: str, sku: str) -> float:
    """The median quantity per order of a product for a customer (an order's lines added up)."""
    found = rows(
        demo_dir,
        "sales",
        "SELECT SUM(l.quantity) AS n FROM orders o JOIN order_lines l ON l.order_id = o.order_id "
        "WHERE o.customer_id = ? AND l.sku = ? GROUP BY o.ordered_on",
        customer_id,
        sku,
    )
    return float(statistics.median(r["n"] for r in found))


def buyers(demo_dir: Path, sku: str) -> set[str]:
    found = rows(
        demo_dir,
        "sales",
        "SELECT DISTINCT o.customer_id FROM orders o JOIN order_lines l ON l.order_id = o.order_id "
        "WHERE l.sku = ?",
        sku,
    )
    return {r["customer_id"] for r in found}


def product_name(demo_dir: Path, sku: str) -> str:
    return str(rows(demo_dir, "sales", "SELECT name FROM products WHERE sku = ?", sku)[0]["name"])


def data_of(section: Section) -> dict[str, Any]:
    assert section.status is SectionStatus.OK, (section.status, section.error)
    assert isinstance(section.data, dict)
    return section.data


def customer_id(sections: Sections) -> str:
    return str(data_of(sections["sales"])["customer_id"])


def as_of_day(insight: dict[str, Any]) -> date:
    return datetime.fromisoformat(insight["as_of"]).date()


def test_demo_config_has_a_purchases_and_a_rules_connector(demo_dir: Path) -> None:
    """The demo config validates; advice comes from a purchases model and a rules table, not a table."""
    connectors = {c.name: c for c in settings_for(demo_dir).connectors}
    assert connectors["insight"].kind == "purchases"
    assert connectors["insight"].needs == ("sales.customer_id",)
    keys = connectors["insight"].kind_keys()
    assert (keys["likely_next"], keys["goes_with"]) == (3, 3)
    assert "product_name" in keys["history_query"] and "quantity" in keys["history_query"]
    assert connectors["offer"].kind == "rules"


def test_cadence_buyer_gets_likely_next_with_her_own_rhythm(
    demo_dir: Path, cards: dict[str, Sections]
) -> None:
    """Ada's paper and toner come first, each reason's count, cadence and age recomputed from her orders."""
    sections = cards[ADA.name]
    insight = data_of(sections["insight"])
    today = as_of_day(insight)
    likely = insight["likely_next"]
    assert [item["product"] for item in likely[:2]] == ["PAP-LTR", "TON-BLK"]
    assert len(likely) <= 3
    cadences = {}
    for item in likely[:2]:
        days = order_days(demo_dir, customer_id(sections), item["product"])
        every = round((days[-1] - days[0]).days / (len(days) - 1))
        ago = (today - days[-1]).days
        usual = usual_quantity(demo_dir, customer_id(sections), item["product"])
        assert item["usual_quantity"] == usual
        quantity = "" if usual == 1 else f", usually {usual:g}"
        expected = f"bought {len(days)} times, about every {every} days{quantity}; last {ago} days ago"
        assert item["reason"] == expected
        assert item["name"] == product_name(demo_dir, item["product"])
        cadences[item["product"]] = every
    assert 25 <= cadences["PAP-LTR"] <= 35
    assert 50 <= cadences["TON-BLK"] <= 70
    scores = [item["score"] for item in likely]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)


def test_bundle_buyer_gets_what_other_laptop_buyers_bought_with_it(
    demo_dir: Path, cards: dict[str, Sections]
) -> None:
    """Grace bought laptops only: the dock and the bag go with them, at the share the orders show."""
    sections = cards[GRACE.name]
    insight = data_of(sections["insight"])
    goes = {item["product"]: item for item in insight["goes_with"]}
    assert {"DOCK-USBC", "BAG-15"} <= set(goes)
    laptop = buyers(demo_dir, "LAP-14")
    everyone = rows(demo_dir, "sales", "SELECT COUNT(DISTINCT customer_id) AS n FROM orders")[0]["n"]
    for sku in ("DOCK-USBC", "BAG-15"):
        item = goes[sku]
        assert (item["with"], item["with_name"]) == ("LAP-14", product_name(demo_dir, "LAP-14"))
        together = laptop & buyers(demo_dir, sku)
        share = len(together) / len(laptop)
        assert item["reason"] == (
            f"{round(share * 100)}% of customers who bought {item['with_name']} also bought it"
        )
        assert share > len(buyers(demo_dir, sku)) / everyone  # lift above 1
        assert len(together) >= 5  # the config's min_customers: never on a handful of customers
    bought = {
        r["sku"]
        for r in rows(
            demo_dir,
            "sales",
            "SELECT DISTINCT l.sku FROM orders o JOIN order_lines l ON l.order_id = o.order_id "
            "WHERE o.customer_id = ?",
            customer_id(sections),
        )
    }
    assert not set(goes) & bought


def test_one_off_buyer_of_a_headset_gets_what_goes_with_it_not_the_headset_again(
    demo_dir: Path, cards: dict[str, Sections]
) -> None:
    """Alan Turing bought a headset once, and almost no headset buyer buys one again.

    So the headset is no likely next purchase (under 5% of its buyers came
    back for it); what goes with it is, with the share of headset buyers
    who bought each, recomputed from the orders.
    """
    insight = data_of(cards[TURING.name]["insight"])
    headset = buyers(demo_dir, "HEAD-BT")
    again = sum(1 for c in headset if len(order_days(demo_dir, c, "HEAD-BT")) > 1)
    assert len(order_days(demo_dir, customer_id(cards[TURING.name]), "HEAD-BT")) == 1
    assert again / len(headset) < 0.05
    assert all(i["product"] != "HEAD-BT" for i in insight["likely_next"])
    assert insight["goes_with"]
    for item in insight["goes_with"]:
        assert (item["with"], item["with_name"]) == ("HEAD-BT", product_name(demo_dir, "HEAD-BT"))
        share = round(100 * len(headset & buyers(demo_dir, item["product"])) / len(headset))
        assert item["reason"] == f"{share}% of customers who bought {item['with_name']} also bought it"


def test_customer_without_orders_gets_no_insight(cards: dict[str, Sections]) -> None:
    """Konrad Zuse is a sales customer with no order: insight is not_found, the rest answers."""
    sections = cards[ZUSE.name]
    assert sections["sales"].status is SectionStatus.OK
    assert data_of(sections["sales"])["orders"] == 0
    assert sections["insight"].status is SectionStatus.NOT_FOUND


def test_offer_comes_from_the_rules_over_accounting_and_credit(
    demo_dir: Path, cards: dict[str, Sections]
) -> None:
    """Overdue: ask first; credit hold: no credit; rating A: Net 45 up to the credit available."""
    ada = data_of(cards[ADA.name]["offer"])
    overdue = data_of(cards[ADA.name]["accounting"])["overdue_amount"]
    assert overdue > 0
    assert (ada["rule"], ada["say"]) == (2, f"Ask about the overdue ${overdue:,.2f} first")
    assert ada["terms"].startswith("Prepayment")
    hold = data_of(cards[HOLLERITH.name]["offer"])
    assert data_of(cards[HOLLERITH.name]["credit"])["rating"] == "D"
    assert (hold["rule"], hold["terms"]) == (1, "No credit (prepayment only)")
    grace = data_of(cards[GRACE.name]["offer"])
    (credit,) = rows(
        demo_dir,
        "credit",
        "SELECT credit_limit - used AS available, rating FROM credit_accounts WHERE account_id = ?",
        data_of(cards[GRACE.name]["accounting"])["account_id"],
    )
    assert credit["rating"] == "A"
    assert (grace["rule"], grace["terms"], grace["max_order"]) == (3, "Net 45", credit["available"])


def test_advice_sections_show_the_fields_their_display_names(
    demo_dir: Path, cards: dict[str, Sections]
) -> None:
    """Every field the insight and offer displays name is in some documented customer's data."""
    displays = {c.name: c.display for c in settings_for(demo_dir).connectors}
    for name in ("insight", "offer"):
        display = displays[name]
        assert display is not None and display.title
        seen: set[str] = set()
        for sections in cards.values():
            if sections[name].status is SectionStatus.OK:
                seen |= set(data_of(sections[name]))
        assert set(display.fields) <= seen, name


async def test_a_history_that_cannot_be_read_does_not_hold_the_lookup(demo_dir: Path, tmp_path: Path) -> None:
    """A failing first build ends the one-off command's wait at once; the section says why it has no model."""
    raw = yaml.safe_load(CONFIG.read_text())
    (insight,) = [c for c in raw["connectors"] if c["name"] == "insight"]
    insight["history_query"] = "SELECT customer, product, at FROM no_such_table"
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert FAILED_BUILD_WITHIN_S < MODEL_WAIT_S  # so a wait that ignored the failure would time out here
    async with asyncio.timeout(FAILED_BUILD_WITHIN_S), open_engine(settings_for(demo_dir, config)) as engine:
        sections = await engine.lookup(parse_caller(ADA.e164, "US"))
    assert sections["insight"].status is SectionStatus.ERROR
    assert sections["insight"].error is not None
    assert sections["insight"].error.startswith("insight model not ready yet: ")
    assert sections["accounting"].status is SectionStatus.OK
