"""Turn a pydantic ValidationError into one sentence an IT person can act on.

The sentence names the key and what is wrong with it; it quotes the value
given only where that value cannot be a secret (config errors end up in
terminals, CI logs and support tickets).  An unknown key, at any depth, is
answered with "did you mean" from the keys valid *there*, derived from the
models themselves, so a new key can never be missing from the hint.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

#: Keys whose values are (or may hold) credentials: their values are never quoted.
#: ``url`` is here because database and Redis URLs carry passwords.
_SECRET_KEY = re.compile(r"secret|token|password|passwd|auth|key|credential|url|dsn|header", re.IGNORECASE)

Loc = tuple[int | str, ...]


def describe_validation_error(
    exc: ValidationError,
    source: str,
    model: type[BaseModel],
    data: object = None,
    siblings: Sequence[str] = (),
) -> str:
    """The most telling problem as `file: key.path: what is wrong (hint)`.

    ``data`` is the input that failed, so that list items are named as well as
    numbered (``connectors[2] (account)``); ``siblings`` are keys valid beside
    the model's own at its top level (a connector's common keys beside its
    kind's options), so that a typo there is matched against both.
    """
    errors = exc.errors(include_url=False)
    error = most_telling(errors)
    loc = tuple(error["loc"])
    return f"{source}: {key_path(loc, data)}: {_what(error, loc, model, errors, siblings)}"


def most_telling(errors: list[ErrorDetails]) -> ErrorDetails:
    """An unknown key first: a typo (`feild:`) is why its sibling (`field`) is missing."""
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    return unknown[0] if unknown else errors[0]


def key_path(loc: Loc, data: object = None) -> str:
    """``('connectors', 1, 'timeout_ms')`` -> ``connectors[1] (crm).timeout_ms``.

    A list item is followed by its ``name`` (or ``id``) when ``data`` gives one:
    an index alone makes IT count blocks in a long file.
    """
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        node = _child(node, part)
        if isinstance(part, int):
            out += item_label(node)
    return out or "<top>"


def item_label(node: object) -> str:
    """`` (account)`` for a list item with a name or id, else nothing."""
    if isinstance(node, Mapping):
        for key in ("name", "id"):
            value = node.get(key)
            if isinstance(value, str) and value:
                return f" ({value})"
    return ""


def _child(node: object, part: int | str) -> object:
    if isinstance(part, int) and isinstance(node, Sequence) and not isinstance(node, str):
        return node[part] if 0 <= part < len(node) else None
    if isinstance(node, Mapping):
        return node.get(part)
    return None


def _what(
    error: ErrorDetails, loc: Loc, model: type[BaseModel], errors: list[ErrorDetails], siblings: Sequence[str]
) -> str:
    if error["type"] == "extra_forbidden":
        known = known_keys(model, loc[:-1])
        if len(loc) == 1:
            known = list(dict.fromkeys([*siblings, *known]))
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == loc[:-1]]
        return _unknown_key(str(loc[-1]), known, missing)
    if error["type"] == "missing":
        return "this key is required"
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if is_secret_key(loc):
        return _redacted(message, given)
    if isinstance(given, str | int | float) and error["type"] != "value_error":
        message += f" (got {given!r})"
    return message


def is_secret_key(loc: Loc) -> bool:
    """Whether the value at this key path may be a credential (see ``_SECRET_KEY``)."""
    return any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc)


def _redacted(message: str, given: object) -> str:
    """``message`` without the given value, should a validator have quoted it."""
    text = given if isinstance(given, str) else str(given) if isinstance(given, int | float) else ""
    return message.replace(text, "***") if len(text) >= 3 else message


def _unknown_key(key: str, known: list[str], missing: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    if close and close[0] in missing:
        hint += f" (`{close[0]}` is required here)"
    listing = f" Known keys here: {', '.join(known)}." if known else ""
    return f"unknown key `{key}`{hint}{listing}"


def known_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at ``loc`` inside ``model``, found by walking its field annotations.

    Lists and tuples take an index, dicts any key, ``X | None`` either arm:
    ``('roles', 'tier1')`` reaches ``RoleSettings`` through ``dict[str, RoleSettings]``.
    """
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    found = _model_in(current)
    if found is None:
        return []
    return [field.alias or name for name, field in found.model_fields.items() if not field.exclude]


def _step(annotation: Any, part: int | str) -> Any:
    """The annotation one loc part below ``annotation`` (None when it cannot be followed)."""
    for arm in _arms(annotation):
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            if isinstance(part, str):
                for name, field in arm.model_fields.items():
                    if part in (name, field.alias):
                        return field.annotation
            continue
        origin, args = get_origin(arm), get_args(arm)
        if origin in (tuple, list) and isinstance(part, int) and args:
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None


def _arms(annotation: Any) -> tuple[Any, ...]:
    """``X | Y | None`` -> ``(X, Y)``; anything else stands alone."""
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return (annotation,)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for arm in _arms(annotation):
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            return arm
    return None
