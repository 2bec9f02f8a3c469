"""Turn a pydantic ValidationError into one sentence an IT person can act on."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def describe_validation_error(exc: ValidationError, source: str, model: type[BaseModel]) -> str:
    """The first problem as `file: key.path: what is wrong (hint)`."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    return f"{source}: {key_path(loc)}: {_what(error, loc, model)}"


def key_path(loc: tuple[int | str, ...]) -> str:
    """``('connectors', 1, 'timeout_ms')`` -> ``connectors[1].timeout_ms``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top>"


def _what(error: ErrorDetails, loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        return _unknown_key(str(loc[-1]), known)
    if error["type"] == "missing":
        return "this key is required"
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, str | int | float) and error["type"] != "value_error":
        message += f" (got {given!r})"
    return message


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    listing = f" Known keys here: {', '.join(known)}." if known else ""
    return f"unknown key `{key}`{hint}{listing}"


def _known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Walk the model classes along ``loc`` to list the keys allowed there."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        current = _field_model(current, str(part))
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items() if not f.exclude]
    return []


def _field_model(model: Any, name: str) -> Any:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return _innermost_model(field.annotation)
    return None


def _innermost_model(annotation: Any) -> Any:
    """The BaseModel inside ``tuple[X, ...]``, ``dict[str, X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _innermost_model(arg)
        if found is not None:
            return found
    return None
