"""A `sql` sink statement casting a parameter PostgreSQL-style (`:customer_ids::jsonb`) is refused at load.

SQLAlchemy does not read ``:name::type`` as a parameter: the statement was
accepted, sent with the text ``:customer_ids::jsonb`` in it, and every note
then failed at the database with a syntax error, each call's later notes
waiting behind its first.
"""

from __future__ import annotations

import pytest

from screenpop.config import settings_from_mapping
from screenpop.errors import ConfigError
from tests.support.service import base_config

CAST = (
    "INSERT INTO call_log (call_id, customer_ids) VALUES (:call_id, :customer_ids::jsonb)"
    " ON CONFLICT DO NOTHING"
)


def load(statement: str) -> None:
    sink = {"name": "crm_log", "kind": "sql", "url": "sqlite+aiosqlite:///crm.db", "statement": statement}
    settings_from_mapping(base_config("sqlite+aiosqlite:///s.db", sinks=[sink]), source="<t>", environ={})


def test_a_cast_written_with_two_colons_is_refused_with_the_cast_to_write_instead() -> None:
    """The config error names the parameter and shows ``CAST(:customer_ids AS jsonb)``."""
    with pytest.raises(ConfigError) as caught:
        load(CAST)
    assert "sinks" in str(caught.value)
    assert "CAST(:customer_ids AS jsonb)" in str(caught.value)


def test_casts_that_bind_and_colons_in_literals_are_accepted() -> None:
    """``CAST(:x AS jsonb)``, a time literal ``'10:30'::time`` and ``:saved_at`` stay valid."""
    load(
        "INSERT INTO call_log (call_id, customer_ids, at, opens) VALUES"
        " (:call_id, CAST(:customer_ids AS jsonb), :saved_at, '10:30'::time)"
    )
