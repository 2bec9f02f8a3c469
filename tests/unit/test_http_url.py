"""The http connector's URL template: values quoted exactly as ``urllib.parse.quote(safe="")`` does."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screenpop.connectors.http.connector import UrlTemplate, quote_value
from screenpop.errors import ConnectorError


@settings(max_examples=500, deadline=None)
@given(text=st.text() | st.text(alphabet=st.characters(max_codepoint=127)))
def test_quote_value_is_urllib_quote_with_nothing_safe(text: str) -> None:
    """Any text, ASCII or not, is escaped byte for byte as urllib escapes it."""
    assert quote_value(text) == quote(text, safe="")


def test_template_fills_literals_and_placeholders_in_order() -> None:
    """Placeholders first, side by side and last are filled in order; the literal text is kept as written."""
    template = UrlTemplate("{scheme_host}/v1/{e164}{digits}?q=a%20b&r={region}")
    params = {"scheme_host": "x", "e164": "+1 415", "digits": 42, "region": None}
    assert template.fill(params) == "x/v1/%2B1%20415" + "42?q=a%20b&r="


def test_template_names_the_missing_placeholder() -> None:
    """A placeholder the lookup has no value for is a connector error naming it."""
    with pytest.raises(ConnectorError, match=r"^url needs \{attr_order\}"):
        UrlTemplate("https://api.example/orders/{attr_order}").fill({"e164": "+14155550132"})
