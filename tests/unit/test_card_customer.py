"""The card's customer block from list sections (`rows: many`, http `items`): distinct customers count."""

from __future__ import annotations

from typing import Any

from screenpop.card import SectionSpec, build_customer
from screenpop.model import Section, SectionStatus

IDENTITY = {"id": "customer_id", "name": "name"}


def listed(*items: dict[str, Any]) -> Section:
    return Section(SectionStatus.OK, data={"items": list(items)}, rows=len(items))


def customer_of(section: Section, identity: dict[str, str] | None = None) -> dict[str, Any]:
    spec = SectionSpec(name="billing", title="Billing", identity=identity or IDENTITY)
    found: dict[str, Any] = build_customer({"billing": section}, {"billing": spec}).to_json()
    return found


def test_items_of_one_customer_are_one_match() -> None:
    """Several rows with the same id name one customer, whatever else differs between them."""
    section = listed(
        {"customer_id": 7, "name": "Ada Lovelace", "total": 10},
        {"customer_id": 7, "name": "Ada L.", "total": 20},
    )
    customer = customer_of(section)
    assert (customer["matches"], customer["name"], customer["ids"], customer["conflicts"]) == (
        1,
        "Ada Lovelace",
        {"billing": "7"},
        [],
    )


def test_items_of_three_customers_are_three_matches() -> None:
    """Distinct ids are distinct customers, each named once in the conflict, in row order."""
    section = listed(
        {"customer_id": 2, "name": "Byron"},
        {"customer_id": 1, "name": "Ada"},
        {"customer_id": 2, "name": "Byron"},
        {"customer_id": 3, "name": "Grace"},
    )
    customer = customer_of(section)
    assert customer["matches"] == 3
    assert customer["conflicts"] == [
        {"kind": "rows", "field": "name", "values": ["Byron", "Ada", "Grace"], "sections": ["billing"]}
    ]


def test_without_an_id_names_tell_customers_apart_ignoring_case_and_punctuation() -> None:
    """An identity with only a name counts `Ada Lovelace` and `ada lovelace.` as one customer."""
    section = listed({"full_name": "Ada Lovelace"}, {"full_name": "ada lovelace."}, {"full_name": "Grace"})
    customer = customer_of(section, {"name": "full_name"})
    assert customer["matches"] == 2
    assert customer["conflicts"][0]["values"] == ["Ada Lovelace", "Grace"]


def test_items_without_identity_fields_name_nobody() -> None:
    """Rows whose identity columns are empty or missing leave the block empty, as before."""
    section = listed({"customer_id": None, "name": ""}, {"total": 3})
    customer = customer_of(section)
    assert (customer["matches"], customer["name"], customer["found_by"]) == (0, None, None)


def test_rows_one_still_counts_its_rows() -> None:
    """A `rows: one` section is unchanged: its matched rows are its matches."""
    section = Section(
        SectionStatus.OK,
        data={"customer_id": 1, "name": "Ada"},
        rows=2,
        others=({"customer_id": 2, "name": "Ada L."},),
    )
    customer = customer_of(section)
    assert customer["matches"] == 2
    assert customer["conflicts"][0]["values"] == ["Ada", "Ada L."]
