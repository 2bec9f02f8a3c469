"""SQL casting a parameter PostgreSQL-style (`:customer_ids::jsonb`) is refused at load, wherever it is.

SQLAlchemy does not read ``:name::type`` as a parameter: a sink statement
was accepted, sent with the text ``:customer_ids::jsonb`` in it, and every
note then failed at the database with a syntax error, each call's later
notes waiting behind its first.  A connector's ``query``, ``index_query``
and a purchases ``history_query`` had the same flaw: every call's section
an error (or every refresh failed) while the config loaded cleanly.
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


PG = "postgresql+asyncpg://u@127.0.0.1/sales"


def load(statement: str) -> None:
    sink = {"name": "crm_log", "kind": "sql", "url": "sqlite+aiosqlite:///crm.db", "statement": statement}
    settings_from_mapping(base_config("sqlite+aiosqlite:///s.db", sinks=[sink]), source="<t>", environ={})


def load_connector(connector: dict[str, object]) -> None:
    config = base_config("sqlite+aiosqlite:///s.db")
    config["connectors"] = [*config["connectors"], connector]
    settings_from_mapping(config, source="<t>", environ={})


@pytest.mark.parametrize(
    ("connector", "key", "cast"),
    [
        (
            {
                "name": "sales",
                "kind": "sql",
                "url": PG,
                "query": "SELECT name FROM c WHERE phone = :e164::text",
            },
            "query",
            "CAST(:e164 AS text)",
        ),
        (
            {
                "name": "sales",
                "kind": "sql",
                "url": PG,
                "match": "normalized",
                "index_query": "SELECT id, phone FROM c WHERE updated > :since::timestamptz",
                "query": "SELECT name FROM c WHERE id IN :keys",
            },
            "index_query",
            "CAST(:since AS timestamptz)",
        ),
        (
            {
                "name": "insight",
                "kind": "purchases",
                "url": PG,
                "needs": ["accounting.account_id"],
                "history_query": "SELECT c AS customer, p AS product, at FROM l WHERE at > :since::date",
            },
            "history_query",
            "CAST(:since AS date)",
        ),
    ],
    ids=["query", "index_query", "history_query"],
)
def test_a_connectors_sql_with_a_two_colon_cast_is_refused_naming_the_key(
    connector: dict[str, object], key: str, cast: str
) -> None:
    """The error names the connector's key and the ``CAST`` to write instead."""
    with pytest.raises(ConfigError) as caught:
        load_connector(connector)
    assert f"`{key}`" in str(caught.value) and cast in str(caught.value), caught.value


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
