"""Turn a pydantic ValidationError into one sentence an IT person can act on.

The sentence names the key and what is wrong with it; it quotes the value
given only where that value cannot be a secret (config errors end up in
terminals, CI logs and support tickets).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

#: Keys whose values are (or may hold) credentials: their values are never quoted.
#: ``url`` is here because database and Redis URLs carry passwords.
_SECRET_KEY = re.compile(r"secret|token|password|passwd|auth|key|credential|url|dsn|header", re.IGNORECASE)


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
    if is_secret_key(loc):
        return _redacted(message, given)
    if isinstance(given, str | int | float) and error["type"] != "value_error":
        message += f" (got {given!r})"
    return message


def is_secret_key(loc: tuple[int | str, ...]) -> bool:
    """Whether the value at this key path may be a credential (see ``_SECRET_KEY``)."""
    return any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc)


def _redacted(message: str, given: object) -> str:
    """``message`` without the given value, should a validator have quoted it."""
    text = given if isinstance(given, str) else str(given) if isinstance(given, int | float) else ""
    return message.replace(text, "***") if len(text) >= 3 else message


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
