"""``server.allowed_origins``: each entry in the one form a browser's ``Origin`` header takes.

The socket and CORS checks compare the header with the entries as strings,
so an entry pasted from an address bar (``https://crm.example.com/``), in
capitals, or with the scheme's default port never matched: every widget on
that page was closed 4403 while the config loaded without a word.  Such an
entry is kept as the browser writes it; what cannot be an origin at all (a
wildcard, a bare host, a page's URL) is refused at load.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
FORM = "an origin is scheme://host[:port], as the browser sends it (https://crm.example.com)"


def browser_origin(entry: str) -> str:
    """``entry`` as a browser serialises that origin; ValueError when it is not one.

    ``null`` is what a browser sends from a ``file://`` page or a sandboxed
    frame; it matched before and still does, as written.
    """
    if entry == "null":
        return entry
    try:
        parts = urlsplit(entry.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{FORM}; its port is not a number") from exc
    if not parts.scheme or not parts.hostname or parts.username or parts.password:
        raise ValueError(FORM)
    if parts.path not in ("", "/") or parts.query or parts.fragment or entry.strip().endswith(("?", "#")):
        raise ValueError(f"{FORM}, without a path, query or fragment")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
