"""`server.allowed_origins`: kept in the one form a browser's Origin header takes.

The hub and the CORS middleware compare the header with these strings as
they are, and a browser always sends ``scheme://host[:port]`` in lower case,
without a path and without its scheme's default port. An origin written
another way (``http://crm.example/`` copied from the address bar) would
match nobody, and every agent would be closed with 4403 while the config
loaded cleanly; so such spellings are brought to that form here, and what
no browser can ever send is a config error.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
SHAPE = "an origin is scheme://host[:port], as the browser's address bar shows it before the path"


def browser_origin(written: str) -> str:
    """``written`` as a browser sends it in ``Origin``; ValueError (one sentence) when no browser can."""
    if written.strip() == "*":
        raise ValueError(f"`*` is not allowed: list each page's origin ({SHAPE})")
    try:
        parts = urlsplit(written.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{written!r} is not an origin ({SHAPE})") from None
    if parts.username is not None or parts.password is not None:
        # the value is not quoted: it holds a password
        raise ValueError(f"an origin holds no user or password ({SHAPE})")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{written!r} is not an origin ({SHAPE}, with http or https)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{written!r} is a page, not an origin ({SHAPE}: drop the path)")
    return _origin(scheme, parts.hostname, port)


def _origin(scheme: str, host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown}"
    return f"{scheme}://{shown}:{port}"
