"""``server.allowed_origins`` holds origins as a browser sends them, whatever form the admin pasted.

A browser's ``Origin`` is ``scheme://host[:port]``, lower case, without the
default port or a trailing slash.  An entry written any other way never
matched it, so every widget on that page was closed 4403 while the config
loaded without a word.
"""

from __future__ import annotations

import pytest

from screenpop.config import settings_from_mapping
from screenpop.errors import ConfigError

SECRET = "s" * 32


def origins(*entries: str) -> tuple[str, ...]:
    raw = {
        "agents": {"token_secret": SECRET, "directory": [{"id": "a1"}]},
        "server": {"allowed_origins": list(entries)},
    }
    return settings_from_mapping(raw, source="test.yaml", environ={}).server.allowed_origins


def test_entries_are_kept_in_the_form_browsers_send() -> None:
    """Case, a trailing slash and a default port are taken as a browser writes the origin; ``null`` stays."""
    assert origins(
        "HTTPS://CRM.Example.com/", "http://agents.example:80", "http://127.0.0.1:8080", "null"
    ) == (
        "https://crm.example.com",
        "http://agents.example",
        "http://127.0.0.1:8080",
        "null",
    )


@pytest.mark.parametrize(
    "entry",
    ["*", "crm.example.com", "https://crm.example.com/app", "https://crm.example.com?x=1", "https://"],
)
def test_what_no_browser_sends_as_an_origin_is_refused_naming_the_key(entry: str) -> None:
    """A wildcard, a bare host or a page URL is refused at load, with the form an origin takes."""
    with pytest.raises(ConfigError) as caught:
        origins("http://ok.example", entry)
    message = str(caught.value)
    assert "server.allowed_origins[1]" in message and "scheme://host[:port]" in message
