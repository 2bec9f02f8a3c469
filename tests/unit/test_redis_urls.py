"""``redis+sentinel://`` URLs: read into sentinels, service and database, or refused with their form."""

from __future__ import annotations

import pytest

from screenpop.config import settings_from_mapping
from screenpop.config.redis_urls import SENTINEL_FORM, SentinelUrl, parse_sentinel_url
from screenpop.errors import ConfigError

SECRET = "s" * 32


def _settings_with_broker(url: str) -> str:
    raw = {"agents": {"token_secret": SECRET, "directory": [{"id": "a1"}]}, "broker": {"url": url}}
    return settings_from_mapping(raw, source="test.yaml", environ={}).broker.url


def test_sentinel_url_names_every_sentinel_the_service_and_the_database() -> None:
    """Several sentinels, a service, a database number and a percent-encoded password are all read."""
    found = parse_sentinel_url(
        "redis+sentinel://:p%40ss@10.0.0.1:26379,sentinel-b:26380,[::1]:26381/mymaster/2"
    )
    assert found == SentinelUrl(
        sentinels=(("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381)),
        service="mymaster",
        db=2,
        password="p@ss",
    )


def test_sentinel_url_without_database_or_password_uses_database_zero() -> None:
    """The database number and the credentials are optional; a user name is kept apart from the password."""
    assert parse_sentinel_url("redis+sentinel://127.0.0.1:26379/svc") == SentinelUrl(
        (("127.0.0.1", 26379),), "svc"
    )
    with_user = parse_sentinel_url("redis+sentinel://app:pw@h:1/svc/")
    assert (with_user.username, with_user.password, with_user.db) == ("app", "pw", 0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://127.0.0.1:26379", "names no service"),
        ("redis+sentinel://127.0.0.1:26379/", "names no service"),
        ("redis+sentinel://127.0.0.1/svc", "host:port"),
        ("redis+sentinel://127.0.0.1:26379,/svc", "host:port"),
        ("redis+sentinel://127.0.0.1:99999/svc", "out of range"),
        ("redis+sentinel://127.0.0.1:26379/svc/zero", "database number"),
        ("redis+sentinel://127.0.0.1:26379/svc/0/extra", "database number"),
    ],
)
def test_malformed_sentinel_url_is_refused_with_the_expected_form(url: str, says: str) -> None:
    """Each malformed part gets its own sentence, followed by the form the URL must take."""
    with pytest.raises(ValueError, match=says) as caught:
        parse_sentinel_url(url)
    assert SENTINEL_FORM in str(caught.value)


def test_config_accepts_a_sentinel_broker_url() -> None:
    """``broker.url: redis+sentinel://…`` passes the real validator unchanged."""
    url = "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/screenpop/0"
    assert _settings_with_broker(url) == url


def test_config_refuses_a_malformed_sentinel_broker_url_at_its_key_without_the_password() -> None:
    """A Sentinel URL without a service is refused at ``broker.url`` with its form, hiding the password."""
    with pytest.raises(ConfigError) as caught:
        _settings_with_broker("redis+sentinel://:hunter2secret@127.0.0.1:26379")
    message = str(caught.value)
    assert "broker.url" in message and "SERVICE_NAME" in message
    assert "hunter2secret" not in message
