"""The Redis URLs ``broker.url`` accepts, read without connecting: ``redis://``, ``rediss://``, ``redis+sentinel://``.

``redis+sentinel://[[user]:password@]host:port[,host:port…]/SERVICE_NAME[/db]``
names the sentinels (at least one; list them all, so that losing one does
not lose the way to the primary), the service they watch (``sentinel
monitor SERVICE_NAME …``) and the database number (0 when left out).  The
password is the Redis servers' own; the sentinels are asked without one.

Parsing lives here, in the pure config layer, so that the schema can refuse
a malformed URL with a clear sentence before anything tries to connect;
``screenpop.broker.redis_url`` builds the client from what is read here.

Three rules keep secrets out of the sentences and make odd passwords work:

- the user part ends at the *last* ``@`` (a host list cannot hold one), so
  a password may hold ``/``, ``@``, ``:``, ``?`` or ``#`` unencoded, and
  ``%XX`` in it is percent-decoding as usual (an ``@`` inside an option's
  value must then be written ``%40``);
- an error says in words which part is wrong ("the port of the 2nd
  sentinel") and never quotes a piece of the URL: a piece read in the wrong
  place may be a password;
- query options are checked against redis-py's own parsers and against the
  connection class the URL will use, so an option that would fail at the
  first connection fails here instead.  An option's name may be shown, its
  value never.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS, Connection, SSLConnection, to_bool
from redis.asyncio.sentinel import SentinelManagedConnection

SENTINEL_SCHEME = "redis+sentinel://"
SENTINEL_FORM = "redis+sentinel://[[user]:password@]host:port[,host:port…]/SERVICE_NAME[/db][?option=value&…]"
REDIS_FORM = "redis[s]://[[user]:password@]host[:port][/db][?option=value&…]"
_FORMS = {"redis": REDIS_FORM, "rediss": REDIS_FORM, "redis+sentinel": SENTINEL_FORM}
_CONNECTIONS: dict[str, type[Connection]] = {
    "redis": Connection,
    "rediss": SSLConnection,
    "redis+sentinel": SentinelManagedConnection,
}
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>.*))?$")
_SERVICE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_OPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Options redis-py passes on as text (it parses the others: ``URL_QUERY_ARGUMENT_PARSERS``).
_TEXT_OPTIONS = frozenset({"client_name", "ssl_cert_reqs"}) | {
    f"ssl_{name}" for name in ("keyfile", "certfile", "ca_certs", "ca_path", "ciphers")
}
_CERT_REQS = frozenset({"none", "optional", "required"})
_POOL_OPTIONS = frozenset({"max_connections"})  # the connection pool's own, not the connection's
#: Options redis-py takes that would make the broker's replies (streams, scripts) another shape.
_REPLY_SHAPE_OPTIONS = frozenset({"protocol", "legacy_responses"})
_KINDS = {int: "a whole number", float: "a number", to_bool: "true or false"}


@dataclass(frozen=True)
class SentinelUrl:
    """Where the sentinels are, which service to ask them for, and how to log in to its primary."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """The query options, parsed as redis-py parses a ``redis://`` URL's (``socket_timeout=1`` -> 1.0)."""


@dataclass(frozen=True)
class _Parts:
    """A Redis URL cut at its delimiters, the user part found by the last ``@``; nothing checked yet."""

    scheme: str
    auth: str | None
    hosts: str
    path: str
    query: str


def is_sentinel_url(url: str) -> bool:
    return url[: len(SENTINEL_SCHEME)].lower() == SENTINEL_SCHEME


def is_redis_url(url: str) -> bool:
    """Whether ``url`` names a Redis scheme (in any letter case), so that ``check_redis_url`` applies."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in _FORMS


def check_redis_url(url: str) -> str:
    """``url`` validated, with its scheme in lower case and its user part percent-encoded.

    What comes back means what ``url`` meant, but redis-py's own parser reads
    it the same way (a password holding ``/`` is otherwise cut at it), and
    code that tests for ``redis`` at the start sees every Redis URL.
    ``ValueError`` says what is wrong, in words, and shows the form.
    """
    parts = _split(url)
    form = _FORMS[parts.scheme]
    try:
        if parts.scheme == "redis+sentinel":
            _read_sentinel(parts)
        else:
            _read_single(parts)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected {form}") from None
    return _joined(parts)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a ``redis+sentinel://`` URL; ``ValueError`` says what is wrong and shows the form."""
    parts = _split(url)
    if parts.scheme != "redis+sentinel":
        raise ValueError(f"a Sentinel URL starts with {SENTINEL_SCHEME}; expected {SENTINEL_FORM}")
    try:
        return _read_sentinel(parts)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected {SENTINEL_FORM}") from None


def _split(url: str) -> _Parts:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _FORMS:
        raise ValueError("a Redis URL starts with redis://, rediss:// or redis+sentinel://")
    auth, at, after = rest.rpartition("@")
    end = min((i for i in (after.find(c) for c in "/?#") if i >= 0), default=len(after))
    tail, hash_mark, _ = after[end:].partition("#")
    if hash_mark:
        raise ValueError(
            f"a Redis URL has no #fragment after its host (a # in the password is fine); "
            f"expected {_FORMS[scheme.lower()]}"
        )
    path, _, query = tail.partition("?")
    return _Parts(scheme.lower(), auth if at else None, after[:end], path, query)


def _joined(parts: _Parts) -> str:
    """The URL again, its user name and password percent-encoded (``%XX`` decoded first, as redis-py does)."""
    auth = ""
    if parts.auth is not None:
        auth = ":".join(quote(unquote(piece), safe="") for piece in parts.auth.split(":", 1)) + "@"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{auth}{parts.hosts}{parts.path}{query}"


def _read_sentinel(parts: _Parts) -> SentinelUrl:
    sentinels = tuple(_sentinel(n, item) for n, item in _host_list(parts.hosts))
    service, db = _service_and_db(parts.path)
    options = _options(parts.query, _CONNECTIONS[parts.scheme])
    username, password = _credentials(parts.auth)
    return SentinelUrl(sentinels, service, db, username, password, options)


def _read_single(parts: _Parts) -> None:
    hosts = _host_list(parts.hosts)
    if len(hosts) > 1:
        raise ValueError("a redis:// URL names one server (for several sentinels use redis+sentinel://)")
    _server(hosts[0][1], "the server")
    db = parts.path.strip("/")
    if db and not (db.isascii() and db.isdigit()):
        raise ValueError("the database number after the host must be a whole number")
    _options(parts.query, _CONNECTIONS[parts.scheme])


def _host_list(hosts: str) -> list[tuple[int, str]]:
    if not hosts:
        raise ValueError("the URL names no host")
    return list(enumerate(hosts.split(","), 1))


def _credentials(auth: str | None) -> tuple[str | None, str | None]:
    if auth is None:
        return None, None
    user, colon, password = auth.partition(":")
    if not colon:
        return None, unquote(user) or None  # ``secret@host`` is read as a password, as redis-py does
    return unquote(user) or None, unquote(password) or None


def _sentinel(n: int, item: str) -> tuple[str, int]:
    who = _nth(n, "sentinel")
    host, port = _server(item, who)
    if port is None:
        raise ValueError(f"{who} has no port (host:port)")
    return host, port


def _server(item: str, who: str) -> tuple[str, int | None]:
    """One ``host[:port]`` of the host list; ``who`` names it in words ("the 2nd sentinel")."""
    if not item.strip():
        raise ValueError(f"{who} is missing: the host:port list has an empty place")
    found = _HOST_PORT.match(item.strip())
    if found is None:
        raise ValueError(f"{who} is not a host name or [IPv6] address followed by :port (host:port)")
    return found["host"].strip("[]"), None if found["port"] is None else _port(found["port"], who)


def _port(text: str, who: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"the port of {who} is not a number (host:port)")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"the port of {who} is out of range (1-65535)")
    return port


def _nth(n: int, what: str) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"the {n}{suffix} {what}"


def _service_and_db(path: str) -> tuple[str, int]:
    parts = path.strip("/").split("/") if path.strip("/") else []
    if not parts:
        raise ValueError("the Sentinel URL names no service (the primary's name)")
    if not _SERVICE.match(parts[0]):
        raise ValueError("the service name may hold only letters, digits, '_', '.' and '-' (at most 128)")
    if len(parts) > 2 or (len(parts) == 2 and not (parts[1].isascii() and parts[1].isdigit())):
        raise ValueError("only a database number may follow the service name")
    return parts[0], int(parts[1]) if len(parts) == 2 else 0


def _options(query: str, connection: type[Connection]) -> dict[str, Any]:
    """The query options, each known to redis-py and taken by ``connection``, parsed as redis-py does."""
    found: dict[str, Any] = {}
    for n, item in enumerate(query.split("&") if query else [], 1):
        if not item:
            continue
        raw_name, equals, value = item.partition("=")
        name = unquote_plus(raw_name)
        if not _OPTION_NAME.match(name):
            raise ValueError(f"the name of {_nth(n, 'option')} is not a word (options are name=value&…)")
        _check_option(name, bool(equals) and bool(value), name in found, connection)
        found[name] = _option_value(name, unquote_plus(value))
    return found


def _check_option(name: str, has_value: bool, repeated: bool, connection: type[Connection]) -> None:
    known = _ACCEPTED[connection]
    if name in _REPLY_SHAPE_OPTIONS:
        raise ValueError(f"option `{name}` would change the shape of the replies screenpop reads (RESP2)")
    if name not in known:
        listing = ", ".join(sorted(known))
        raise ValueError(f"unknown option `{name}` (options this URL takes: {listing})")
    if not has_value:
        raise ValueError(f"option `{name}` has no value (name=value)")
    if repeated:
        raise ValueError(f"option `{name}` is given twice")


def _option_value(name: str, value: str) -> Any:
    parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
    if name == "ssl_cert_reqs" and value.lower() not in _CERT_REQS:
        raise ValueError("option `ssl_cert_reqs` must be none, optional or required")
    if parser is None:
        return value
    try:
        return parser(value)
    except (TypeError, ValueError):
        kind = _KINDS.get(parser, "a value redis-py can read")
        raise ValueError(f"the value of option `{name}` is not {kind}") from None


def accepted_options(connection: type[Connection]) -> frozenset[str]:
    """The query options a URL may carry for ``connection``: ones redis-py reads that its ``__init__`` takes.

    The keyword arguments are collected up the class's MRO for as long as an
    ``__init__`` passes ``**kwargs`` on, so that redis-py's own signatures, not
    a list kept here, decide (``ssl_check_hostname`` is ``rediss://`` only;
    ``timeout`` belongs to a pool screenpop does not use).
    """
    taken = set(_POOL_OPTIONS)
    for klass in connection.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        taken |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return (
        frozenset(taken & (set(URL_QUERY_ARGUMENT_PARSERS) | _TEXT_OPTIONS | _POOL_OPTIONS))
        - _REPLY_SHAPE_OPTIONS
    )


_ACCEPTED = {connection: accepted_options(connection) for connection in _CONNECTIONS.values()}
