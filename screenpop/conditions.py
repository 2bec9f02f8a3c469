"""The conditions of badges and of `kind: rules`: `above`, `below`, `equals`, `in` (SPEC 3).

One code for both, so a badge and a rule given the same condition and the
same value always agree.  It sits at the model layer so that connectors,
which may import only the connector contract, the model and the errors, can
use it as the card does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

ConditionKind = Literal["above", "below", "equals", "in"]
KINDS: tuple[ConditionKind, ...] = ("above", "below", "equals", "in")


def holds(kind: str, expected: Any, value: Any) -> bool:
    """Whether ``value`` meets one condition; a missing value (None) meets none.

    ``above``/``below`` compare numbers (a text that reads as a number counts,
    a boolean never does); ``equals`` and ``in`` compare a number as a number,
    a boolean as itself and a text without case or surrounding spaces.
    """
    if value is None:
        return False
    if kind in ("above", "below"):
        number = as_number(value)
        if number is None:
            return False
        return number > float(expected) if kind == "above" else number < float(expected)
    if kind == "equals":
        return same(value, expected)
    if kind == "in":
        return any(same(value, option) for option in expected)
    raise ValueError(f"unknown condition {kind!r} (known: {', '.join(KINDS)})")


def only_condition(spec: Mapping[str, Any]) -> tuple[str, Any]:
    """The one (kind, expected) of a condition mapping such as ``{"above": 0}``; ValueError otherwise."""
    given = [k for k in KINDS if spec.get(k) is not None]
    unknown = [k for k in spec if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown condition {unknown[0]!r} (known: {', '.join(KINDS)})")
    empty = [k for k in KINDS if k in spec and spec[k] is None]
    if empty and not given:  # `equals:` left blank said "needs exactly one of …" of a rule that had one
        raise ValueError(
            f"`{empty[0]}` has no value (null): a missing value meets no condition, "
            "so give the value to compare with"
        )
    if len(given) != 1:
        raise ValueError("a condition needs exactly one of `above`, `below`, `equals`, `in`")
    return given[0], spec[given[0]]


def yaml_boolean_among_texts(options: Any) -> bool:
    """Whether an ``in`` list mixes a boolean with texts: YAML's doing, never the author's.

    Unquoted, ``NO`` (Norway), ``ON``, ``yes`` and ``off`` are booleans in
    YAML, so ``in: [NO, SE]`` reads as ``[false, "SE"]``.  A field may be a
    boolean, but a list that holds a flag beside country codes or other text
    was meant as text: it is refused at load, with a word to quote it.
    """
    if not isinstance(options, list | tuple):
        return False
    return any(isinstance(o, bool) for o in options) and any(isinstance(o, str) for o in options)


def as_number(value: Any) -> float | None:
    """A finite number, or None: NaN and the infinities are written ``null`` on the card, and hold nothing."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def same(value: Any, expected: Any) -> bool:
    """``equals``: numbers as numbers, text without case or padding, and a boolean as its 0 or 1.

    A number is compared as a number with a text that reads as one, whichever
    side the text is on: ``equals: "1000"`` holds for a REAL column's 1000.0
    as ``equals: 1000`` holds for a TEXT column's "1000.0".  Two texts stay
    texts ("007" is not "7").

    SQLite and MySQL have no boolean type and hand over a flag as 0 or 1, so
    ``equals: true`` must hold for 1 (and ``equals: 1`` for PostgreSQL's True).
    """
    if isinstance(expected, bool) or isinstance(value, bool):
        return _flag(value) is _flag(expected) is not None
    if isinstance(expected, int | float):
        return as_number(value) == float(expected)
    if isinstance(value, int | float | Decimal) and (number := as_number(expected)) is not None:
        return as_number(value) == number  # `equals: "1000"` (quoted in YAML) against a column's 1000.0
    return str(value).strip().casefold() == str(expected).strip().casefold()


def _flag(value: Any) -> bool | None:
    """A boolean, or the 0 / 1 a database without booleans stores one as; None for anything else."""
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    return None
