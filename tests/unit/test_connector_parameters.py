"""A connector's query or URL that names a parameter nothing binds is refused when the config loads."""

from __future__ import annotations

from typing import Any

import pytest

from screenpop.config import settings_from_mapping
from screenpop.errors import ConfigError

SECRET = "s" * 32


def config_with(*connectors: dict[str, Any]) -> dict[str, Any]:
    return {"agents": {"token_secret": SECRET, "directory": [{"id": "a1"}]}, "connectors": list(connectors)}


def sql(name: str = "sales", **keys: Any) -> dict[str, Any]:
    return {"name": name, "kind": "sql", "url": "sqlite+aiosqlite:///x.db", **keys}


def config_error(*connectors: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(config_with(*connectors), source="test.yaml", environ={})
    return str(caught.value)


@pytest.mark.parametrize(
    ("block", "where"),
    [
        (sql(query="SELECT name FROM customers WHERE phone = :phone"), "connectors[0] (sales).query"),
        (
            sql(
                query="SELECT name FROM customers WHERE id IN :keys AND region = :regoin",
                match="normalized",
                index_query="SELECT id, phone FROM customers",
            ),
            "connectors[0] (sales).query",
        ),
        (
            {"name": "crm", "kind": "http", "url": "https://crm.example.com/c?phone={phone_number}"},
            "connectors[0] (crm).url",
        ),
    ],
    ids=["sql-exact", "sql-normalized", "http-url"],
)
def test_a_parameter_nothing_binds_is_a_config_error(block: dict[str, Any], where: str) -> None:
    """A misspelt `:phone` fails at load with the key path, instead of every call's section being an error."""
    message = config_error(block)
    assert message.startswith(f"test.yaml: {where}: no connector or call binds the parameter")
    assert "bindable here: e164" in message


def test_keys_and_needs_fields_stay_bindable() -> None:
    """`:keys` of a normalized match and a `needs` field are bound, so they load."""
    settings = settings_from_mapping(
        config_with(
            sql("accounting", query="SELECT account_id FROM a WHERE phone = :e164"),
            sql(
                "credit",
                match="normalized",
                index_query="SELECT id, phone FROM c",
                needs=["accounting.account_id"],
                query="SELECT * FROM c WHERE id IN :keys AND account = :accounting_account_id",
            ),
        ),
        source="test.yaml",
        environ={},
    )
    assert [c.name for c in settings.connectors] == ["accounting", "credit"]


def test_an_identity_key_other_than_id_or_name_is_refused() -> None:
    """`identity: {id: …, nam: …}` would leave every card nameless: refused, with the fix."""
    message = config_error(
        sql(query="SELECT 1 WHERE :e164 = 1", identity={"id": "customer_id", "nam": "name"})
    )
    assert message.startswith("test.yaml: connectors[0] (sales).identity")
    assert "`nam`" in message and "did you mean `name`" in message
