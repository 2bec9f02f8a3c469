"""JSONPath selection of an API's answer into a section's fields.

Paths are compiled once when the config is loaded, so a typo in a path is a
config error at start-up rather than an empty section at the first call.

Most configured paths are plain chains of keys (``$.name``,
``$.customer.id``).  jsonpath-ng spends about 10 µs per such path per
answer building match objects; a plain chain is read here as dictionary
look-ups instead, with jsonpath-ng's own rules (a key present with a null
value matches; anything but an object has no keys), and a property test
holds the two to the same answers.  Every other path (filters, wildcards,
indexes, ``..``) goes through jsonpath-ng.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonpath_ng import jsonpath
from jsonpath_ng.ext.parser import parse

from screenpop.connector_api import LookupResult

_ABSENT = object()


def compile_path(path: str, where: str) -> Any:
    """The compiled JSONPath, or a ValueError naming the key (for the config error)."""
    try:
        return parse(path)
    except Exception as exc:  # jsonpath-ng raises several unrelated classes for bad syntax
        detail = str(exc).strip().splitlines()
        reason = f": {detail[0][:120]}" if detail else ""
        raise ValueError(f"{where}: {path!r} is not a valid JSONPath{reason}") from exc


def plain_keys(compiled: Any) -> tuple[str, ...] | None:
    """The keys of a path that is only named fields from the root (``$.a.b`` -> a, b), else None."""
    keys: list[str] = []
    node: Any = compiled
    while type(node) is jsonpath.Child:
        right: Any = node.right
        if not _one_name(right):
            return None
        keys.append(right.fields[0])
        node = node.left
    if _one_name(node):  # a path written without the leading ``$.``
        keys.append(node.fields[0])
    elif type(node) is not jsonpath.Root:
        return None
    return tuple(reversed(keys))


def _one_name(node: Any) -> bool:
    """A ``Fields`` node naming one ordinary key (not a wildcard, not jsonpath-ng's auto id)."""
    if type(node) is not jsonpath.Fields or len(node.fields) != 1:
        return False
    name = node.fields[0]
    wildcard = name == "*" or getattr(node, "_deprecated_wildcard_use", False)
    return not wildcard and name != jsonpath.auto_id_field


class Path:
    """One compiled path: its matched values in a document, read the fast way when it is plain."""

    __slots__ = ("_compiled", "_keys")

    def __init__(self, path: str, where: str) -> None:
        self._compiled = compile_path(path, where)
        self._keys = plain_keys(self._compiled)

    def values(self, document: Any) -> list[Any]:
        if self._keys is None:
            return [match.value for match in self._compiled.find(document)]
        value = document
        for key in self._keys:
            # jsonpath-ng reads a field with ``.get``: only an object has one (a list or a text has none)
            value = value.get(key, _ABSENT) if isinstance(value, dict) else _ABSENT
            if value is _ABSENT:
                return []
        return [value]


class Selector:
    """``select`` (field -> JSONPath) applied to a document, or to each of its ``items``.

    A path that matches once gives its value, several matches give a list,
    none leaves the field out.  With no ``select`` at all the object itself is
    the data.  A document (or item) where nothing non-null was selected counts
    as not found.
    """

    def __init__(self, select: Mapping[str, str], items: str | None, limit: int) -> None:
        self._select = tuple((field, Path(path, field)) for field, path in select.items())
        self._items = Path(items, "items") if items is not None else None
        self._limit = limit

    def result(self, document: Any) -> LookupResult:
        if self._items is None:
            data = self._pick(document)
            return LookupResult(data, 1) if data is not None else LookupResult(None, 0)
        picked = (self._pick(item) for item in self._list(document))
        items = [item for item in picked if item is not None][: self._limit]
        return LookupResult({"items": items}, len(items)) if items else LookupResult(None, 0)

    def _pick(self, document: Any) -> dict[str, Any] | None:
        if not self._select:
            return document if isinstance(document, dict) and document else None
        out: dict[str, Any] = {}
        for field, path in self._select:
            values = path.values(document)
            if values:
                out[field] = values[0] if len(values) == 1 else values
        return out if any(value is not None for value in out.values()) else None

    def _list(self, document: Any) -> list[Any]:
        assert self._items is not None
        found = self._items.values(document)
        if len(found) == 1 and isinstance(found[0], list):
            return found[0]
        return found
