"""Which of a connector's rows name the same customer: what ``customer.matches`` counts (SPEC 3 and 5).

Legacy tables are where this is decided badly: an invoice row whose
customer id is NULL beside one that has it, an id read back as ``8.0`` from
a CSV import beside ``8``, a ``CHAR(10)`` id padded with spaces, a name
typed in decomposed Unicode, a name of blanks.  Counting each of those as
another customer shows the agent a "possible duplicate" that lists one
name twice, which tells them nothing; so rows are told apart by id where
they have one, by name where they do not, and a row without an id whose
name is an id-row's name is that customer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from screenpop.model import JSON, Conflict, Section

CustomerKey = tuple[str, str]


def identity_of(row: Mapping[str, Any], identity: Mapping[str, str]) -> JSON:
    """The identity fields of one row, under their identity names (``id``, ``name``…); blanks name nothing."""
    return {key: row[column] for key, column in identity.items() if not _blank(row.get(column))}


def id_text(value: Any) -> str:
    """A customer id as text, the same whichever way the database handed it over.

    ``8``, ``8.0`` and ``Decimal("8.00")`` are one id; a text id keeps its
    leading zeros (``007`` is not ``7``) and loses only padding.
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    return str(value)


def comparable_name(name: str) -> str:
    """A name as compared: composed the same way, case and punctuation aside (``Zoë`` typed either way)."""
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", name).casefold()).strip()


def section_identity(
    name: str, section: Section, identity: Mapping[str, str]
) -> tuple[JSON, int, Conflict | None]:
    """One section's identity: the first record's fields, how many customers it names, and the conflict.

    A list section (``rows: many``, an http ``items``) names as many
    customers as its items' identities are distinct: five invoices of one
    customer are one customer, two customers' rows for one number are two.
    A ``rows: one`` section does the same with the rows it kept; rows it
    counted but did not keep (``section.rows`` beyond them) count as more
    customers, since nothing says whose they are.
    """
    data = section.data
    if data is None:
        return {}, 0, None
    if _is_list(data):
        items = data["items"]
        found = [identity_of(item, identity) if isinstance(item, Mapping) else {} for item in items]
        return _counted(name, found, unseen=0)
    kept = [identity_of(data, identity), *section.others]
    known = [record for record in kept if record]
    _, count, conflict = _counted(name, known, unseen=max(section.rows, len(kept)) - len(known))
    return kept[0], count, conflict  # the customer is the row the section shows, whoever the others are


def _is_list(data: JSON) -> bool:
    return "items" in data and len(data) == 1 and isinstance(data["items"], list)


def _counted(name: str, records: list[JSON], unseen: int) -> tuple[JSON, int, Conflict | None]:
    """The first customer, how many there are, and the conflict that lists them when more than one."""
    distinct = distinct_customers(records)
    count = len(distinct) + unseen
    first = distinct[0] if distinct else {}
    if count < 2:
        return first, count, None
    field = "name" if "name" in first else "id"
    values = tuple(v for v in (str(c.get(field, c.get("id", ""))) for c in distinct) if v)
    if len(values) < count:
        values = (*values, f"{count} records in all")
    return first, count, Conflict(kind="rows", field=field, values=values, sections=(name,))


def distinct_customers(records: Iterable[JSON]) -> list[JSON]:
    """The records' customers, each once, in the order they first appear (the identity they first had)."""
    found = [r for r in records if r]
    id_names = {comparable_name(str(r["name"])) for r in found if "id" in r and "name" in r}
    customers: dict[CustomerKey, JSON] = {}
    for record in found:
        key = _customer_key(record)
        if key[0] == "name" and key[1] in id_names:
            continue  # a row without an id, naming a customer an id row names
        customers.setdefault(key, record)
    return list(customers.values())


def _customer_key(found: JSON) -> CustomerKey:
    if "id" in found:
        return "id", id_text(found["id"])
    if "name" in found:
        return "name", comparable_name(str(found["name"]))
    return "other", repr(sorted((k, str(v)) for k, v in found.items()))


def _blank(value: Any) -> bool:
    """Names nobody: nothing, blanks, or a structure (an API's ``{"first": …}``) that no one field names.

    A structure would reach the card as Python's text of it (``{'first':
    'Ada', …}``); the config points ``identity`` at one of its fields instead.
    """
    return (
        value is None or (isinstance(value, str) and not value.strip()) or isinstance(value, Mapping | list)
    )
