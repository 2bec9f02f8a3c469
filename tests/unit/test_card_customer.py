"""The card's customer block from list sections (`rows: many`, http `items`): distinct customers count."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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


def test_rows_one_duplicate_rows_of_one_customer_are_one_match() -> None:
    """A legacy table's duplicate rows of one id (8 and 8.0) are one customer, not a possible duplicate."""
    section = Section(
        SectionStatus.OK,
        data={"customer_id": 8, "name": "Ada"},
        rows=2,
        others=({"id": 8.0, "name": "Ada L."},),  # as the engine keeps them: under the identity's keys
    )
    customer = customer_of(section)
    assert (customer["matches"], customer["conflicts"]) == (1, [])


def test_rows_one_rows_it_did_not_keep_count_as_more_customers() -> None:
    """Rows counted but not kept name nobody known: each is one more possible customer."""
    section = Section(SectionStatus.OK, data={"customer_id": 1, "name": "Ada"}, rows=4, others=({"id": 1},))
    customer = customer_of(section)
    assert customer["matches"] == 3
    assert customer["conflicts"][0]["values"] == ["Ada", "3 records in all"]


def test_text_ids_keep_their_leading_zeros_and_lose_their_padding() -> None:
    """`007` and `7` are two customers; `'7   '` (a CHAR column) and `7` are one."""
    section = listed({"customer_id": "007"}, {"customer_id": "7   "}, {"customer_id": 7})
    customer = customer_of(section, {"id": "customer_id"})
    assert customer["matches"] == 2
    assert customer["conflicts"][0]["values"] == ["007", "7   "]


NAME_SPELLINGS = st.sampled_from(["Zoë Quinn", "Zoe\u0308 Quinn", "ZOË QUINN", "zoë quinn.", " Zoë  Quinn "])
ID_SPELLINGS = st.sampled_from([8, 8.0, Decimal("8"), Decimal("8.00"), "8", " 8 ", None])


@given(st.lists(st.tuples(ID_SPELLINGS, NAME_SPELLINGS), min_size=1, max_size=8))
def test_one_customers_rows_written_any_way_are_one_match(rows: list[tuple[Any, str]]) -> None:
    """However a legacy table spells one customer's id and name across rows, they are one customer."""
    section = listed(*({"customer_id": i, "name": n} for i, n in rows))
    customer = customer_of(section)
    assert (customer["matches"], customer["conflicts"]) == (1, [])


def test_rows_one_customer_is_the_row_the_section_shows() -> None:
    """A first row without identity does not borrow the next row's name: it is shown, not that one."""
    section = Section(
        SectionStatus.OK,
        data={"customer_id": None, "name": " "},
        rows=2,
        others=({"id": 2, "name": "Byron"},),
    )
    customer = customer_of(section)
    assert (customer["name"], customer["ids"], customer["matches"]) == (None, {}, 2)


def test_a_structure_in_an_identity_field_names_nobody() -> None:
    """An API whose `name` is an object or a list: not Python's text of it on the card, but no name."""
    section = Section(
        SectionStatus.OK, data={"customer_id": 7, "name": {"first": "Ada", "last": "Lovelace"}}, rows=1
    )
    customer = customer_of(section)
    assert (customer["name"], customer["ids"], customer["matches"]) == (None, {"billing": "7"}, 1)
    tagged = Section(SectionStatus.OK, data={"customer_id": ["7", "8"], "name": "Ada Lovelace"}, rows=1)
    assert customer_of(tagged)["ids"] == {}
