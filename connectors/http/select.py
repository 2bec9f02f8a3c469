"""JSONPath selection of an API's answer into a section's fields.

Paths are compiled once when the config is loaded, so a typo in a path is a
config error at start-up rather than an empty section at the first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonpath_ng.ext.parser import parse

from screenpop.connector_api import LookupResult


def compile_path(path: str, where: str) -> Any:
    """The compiled JSONPath, or a ValueError naming the key (for the config error)."""
    try:
        return parse(path)
    except Exception as exc:  # jsonpath-ng raises several unrelated classes for bad syntax
        detail = str(exc).strip().splitlines()
        reason = f": {detail[0][:120]}" if detail else ""
        raise ValueError(f"{where}: {path!r} is not a valid JSONPath{reason}") from exc


class Selector:
    """``select`` (field -> JSONPath) applied to a document, or to each of its ``items``.

    A path that matches once gives its value, several matches give a list,
    none leaves the field out.  With no ``select`` at all the object itself is
    the data.  A document (or item) where nothing non-null was selected counts
    as not found.
    """

    def __init__(self, select: Mapping[str, str], items: str | None, limit: int) -> None:
        self._select = {field: compile_path(path, field) for field, path in select.items()}
        self._items = compile_path(items, "items") if items is not None else None
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
        for field, path in self._select.items():
            values = [match.value for match in path.find(document)]
            if values:
                out[field] = values[0] if len(values) == 1 else values
        return out if any(value is not None for value in out.values()) else None

    def _list(self, document: Any) -> list[Any]:
        assert self._items is not None
        found = [match.value for match in self._items.find(document)]
        if len(found) == 1 and isinstance(found[0], list):
            return found[0]
        return found
