"""Redis URLs (``redis://``, ``rediss://``, ``redis+sentinel://``): read as meant, or refused in words."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS, Connection, SSLConnection, parse_url, to_bool
from redis.asyncio.sentinel import SentinelManagedConnection

from screenpop.broker import redis_client
from screenpop.config import settings_from_mapping
from screenpop.config.redis_urls import (
    REDIS_FORM,
    SENTINEL_FORM,
    SentinelUrl,
    accepted_options,
    check_redis_url,
    parse_sentinel_url,
)
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


# --- passwords that hold URL delimiters ------------------------------------------------------

ODD_PASSWORDS = ["hunter2/abc", "p@ss:w/rd#1%", "hunter2?x", "a:b@c/d#e%f?g&h=i"]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
@pytest.mark.parametrize("encode", [False, True])
def test_sentinel_url_reads_a_password_holding_delimiters_whole(password: str, encode: bool) -> None:
    """The user part ends at the last ``@``: a password holding ``/ @ : # % ?``, encoded or not, is whole."""
    written = quote(password, safe="") if encode else password
    found = parse_sentinel_url(f"redis+sentinel://app:{written}@127.0.0.1:26379/mymaster/1")
    assert (found.username, found.password, found.service, found.db) == ("app", password, "mymaster", 1)
    assert found.sentinels == (("127.0.0.1", 26379),)


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_redis_url_with_such_a_password_is_read_by_redis_py_as_meant(password: str) -> None:
    """``check_redis_url`` gives a URL in which redis-py's parser finds that password, host, port and db."""
    checked = check_redis_url(f"redis://:{password}@127.0.0.1:56390/3")
    assert parse_url(checked) == {"password": password, "host": "127.0.0.1", "port": 56390, "db": 3}


def test_redis_url_already_percent_encoded_is_kept_as_it_is() -> None:
    """A URL whose password is percent-encoded the usual way comes back unchanged."""
    url = "redis://default:p%40ss%3Aw%2Frd%231%25@redis.internal:6379/0?socket_timeout=2"
    assert check_redis_url(url) == url


# --- malformed URLs: what is wrong, in words, never a piece of the URL ------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://:hunter2/abc@127.0.0.1/mymaster", "the 1st sentinel has no port"),
        (
            "redis+sentinel://:hunter2/abc@127.0.0.1:1,h:x/mymaster",
            "the port of the 2nd sentinel is not a number",
        ),
        ("redis+sentinel://:hunter2@h:1,h:70000/mymaster", "the port of the 2nd sentinel is out of range"),
        ("redis+sentinel://:hunter2@h:1,/mymaster", "the 2nd sentinel is missing"),
        ("redis+sentinel://:hunter2@h!:1/mymaster", "the 1st sentinel is not a host name"),
        ("redis+sentinel://", "names no host"),
        ("redis+sentinel://:hunter2@h:1/my hunter2", "service name may hold only"),
        ("redis+sentinel://:hunter2@h:1/mymaster?nosuch=hunter2", "unknown option `nosuch`"),
        ("redis://:hunter2/abc@127.0.0.1:notaport/0", "the port of the server is not a number"),
        ("redis://:hunter2@127.0.0.1:99999/0", "the port of the server is out of range"),
        ("redis://:hunter2@127.0.0.1:56390/hunter2", "database number after the host must be a whole number"),
        ("redis://:hunter2@127.0.0.1:56390/0?foo=hunter2", "unknown option `foo`"),
        ("redis://:hunter2@127.0.0.1/0?socket_timeout=hunter2", "option `socket_timeout` is not a number"),
        ("redis://:hunter2@127.0.0.1/0?db=1&db=2", "option `db` is given twice"),
        ("redis://:hunter2@h/0?protocol=3", "option `protocol` would change the shape of the replies"),
        ("redis+sentinel://:hunter2@h:1/m?legacy_responses=no", "option `legacy_responses` would change"),
        ("redis://:hunter2@127.0.0.1/0?socket_timeout=", "option `socket_timeout` has no value"),
        ("redis://:hunter2@h/0?ssl_check_hostname=true", "unknown option `ssl_check_hostname`"),
        ("rediss://:hunter2@h/0?ssl_cert_reqs=hunter2", "must be none, optional or required"),
        ("redis://:hunter2@h/0#hunter2", "no #fragment"),
        ("redis://:hunter2@h1,h2/0", "names one server"),
        ("redis://:hunter2@/0", "names no host"),
        ("redis://", "names no host"),
    ],
)
def test_malformed_redis_url_says_which_part_is_wrong_without_quoting_it(url: str, says: str) -> None:
    """Each mistake is named in words with the URL's form; no piece of it (here ``hunter2``) is quoted."""
    with pytest.raises(ValueError, match=re.escape(says)) as caught:
        check_redis_url(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert message.endswith(SENTINEL_FORM if url.startswith("redis+") else REDIS_FORM)


def test_sentinel_url_with_query_options_names_its_service_and_reads_the_options() -> None:
    """Query options are cut off before the service is read, and parsed as redis-py parses them."""
    found = parse_sentinel_url(
        "redis+sentinel://127.0.0.1:26379/mymaster/2?socket_timeout=1&retry_on_timeout=yes"
    )
    assert (found.service, found.db) == ("mymaster", 2)
    assert found.options == {"socket_timeout": 1.0, "retry_on_timeout": True}


@pytest.mark.parametrize("scheme", ["redis", "rediss", "redis+sentinel"])
def test_every_option_the_check_accepts_is_one_the_connection_takes(scheme: str) -> None:
    """The accepted options come from redis-py's signatures: each one really constructs a connection."""
    samples = {int: "1", float: "1.5", to_bool: "false"}
    special = {
        "retry_on_error": "TimeoutError",
        "ssl_include_verify_flags": "VERIFY_X509_STRICT",
        "ssl_exclude_verify_flags": "VERIFY_X509_STRICT",
        "ssl_cert_reqs": "none",
        "protocol": "2",
    }
    connection = {"redis": Connection, "rediss": SSLConnection, "redis+sentinel": SentinelManagedConnection}
    names = accepted_options(connection[scheme])
    assert {"socket_timeout", "db", "max_connections"} <= names
    for name in sorted(names):
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        value = special.get(name) or samples.get(parser, "x")  # type: ignore[call-overload]
        hosts = "127.0.0.1:26379/svc" if scheme == "redis+sentinel" else "127.0.0.1:6379/0"
        client = redis_client(f"{scheme}://{hosts}?{name}={value}")
        client.connection_pool.make_connection()  # a TypeError here is what the check prevents


def test_redis_client_gives_the_servers_the_whole_password_and_the_urls_options() -> None:
    """A password with ``/`` reaches redis-py whole, and a Sentinel URL's options reach its connections."""
    plain = redis_client("redis://:hunter2/abc@127.0.0.1:56390/0")
    assert plain.connection_pool.connection_kwargs["password"] == "hunter2/abc"
    sentinel = redis_client(
        "redis+sentinel://:p@ss/w@127.0.0.1:26379/svc/1?socket_timeout=2", socket_timeout=0.5
    )
    kwargs = sentinel.connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["db"], kwargs["socket_timeout"]) == ("p@ss/w", 1, 2.0)


# --- the config key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2/abc@127.0.0.1:56390/zero",
        "redis://:pw@127.0.0.1:56390/0?foo=bar",
        "redis://127.0.0.1:notaport/0",
        "redis+sentinel://127.0.0.1:26379/my master",
        "redis+sentinel://",
        "REDIS+SENTINEL://127.0.0.1:26379",
        "mysql://127.0.0.1/0",
    ],
)
def test_config_refuses_a_bad_redis_broker_url_in_one_sentence_at_its_key(url: str) -> None:
    """A bad ``broker.url`` is one line naming the file and the key, in words, never pydantic's regex."""
    with pytest.raises(ConfigError) as caught:
        _settings_with_broker(url)
    message = str(caught.value)
    assert message.startswith("test.yaml: broker.url: ") and "\n" not in message
    assert "pattern" not in message and "hunter2" not in message


def test_config_keeps_a_redis_url_with_an_uppercase_scheme_in_lower_case() -> None:
    """Schemes are case-insensitive: ``REDIS+SENTINEL://`` and ``MEMORY://`` are taken, kept in lower case."""
    assert _settings_with_broker("REDIS+SENTINEL://h:26379/svc") == "redis+sentinel://h:26379/svc"
    assert (
        _settings_with_broker("Rediss://h:6380/0?ssl_cert_reqs=none")
        == "rediss://h:6380/0?ssl_cert_reqs=none"
    )
    assert _settings_with_broker("MEMORY://") == "memory://"


def test_config_keeps_a_password_with_a_slash_percent_encoded() -> None:
    """``broker.url`` keeps the URL as redis-py reads it: the password percent-encoded, meaning the same."""
    assert (
        _settings_with_broker("redis://:hunter2/abc@127.0.0.1:6379/0")
        == "redis://:hunter2%2Fabc@127.0.0.1:6379/0"
    )


# --- no message ever holds the password -------------------------------------------------------

# The password's letters are ones no message holds, so any piece of it that leaked would show.
_LEAK_LETTERS = "QXZJ"
_TEMPLATES = [
    "redis://:{pw}@127.0.0.1:6379/0",
    "redis://user:{pw}@127.0.0.1:notaport/0",
    "redis://:{pw}@127.0.0.1:6379/x?socket_timeout=1",
    "redis://:{pw}@127.0.0.1/0?foo=1",
    "rediss://{pw}@h:99999",
    "redis+sentinel://:{pw}@127.0.0.1:26379/mymaster/1",
    "redis+sentinel://:{pw}@127.0.0.1:26379",
    "redis+sentinel://:{pw}@127.0.0.1,h:1/svc",
    "redis+sentinel://u:{pw}@h:1/svc?socket_timeout=soon",
    "redis+sentinel://:{pw}@h:1,:2/svc/0/1",
]


@settings(max_examples=300, deadline=None)
@given(
    password=st.text(alphabet=_LEAK_LETTERS + "/@:#%?&=,.+ 09", min_size=1).filter(
        lambda pw: any(c in _LEAK_LETTERS for c in pw)
    ),
    template=st.sampled_from(_TEMPLATES),
    encode=st.booleans(),
)
def test_no_message_about_a_redis_url_holds_any_piece_of_its_password(
    password: str, template: str, encode: bool
) -> None:
    """Whatever the password holds and wherever the URL is wrong, the sentence shows none of the password."""
    url = template.format(pw=quote(password, safe="") if encode else password)
    try:
        message = f"{_settings_with_broker(url)}"
    except ConfigError as exc:
        message = str(exc)
    else:
        message = ""  # accepted: nothing is said
    assert not set(message) & set(_LEAK_LETTERS), message
