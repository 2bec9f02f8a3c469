"""Reading what anyone on the network may send: JSON that cannot become a 500.

``json.loads`` raises more than ``JSONDecodeError`` on hostile input:
``RecursionError`` for deeply nested arrays, a plain ``ValueError`` for an
integer of more than 4,300 digits (CPython's conversion limit). Every body a
client sends is read through ``loads`` so that all of them are a 400 naming
what is wrong, and none is a 500 with a traceback in the log.
"""

from __future__ import annotations

import json
from typing import Any

from screenpop.errors import BadRequest


def loads(raw: bytes | str, what: str = "the body") -> Any:
    """``raw`` parsed as JSON, or ``BadRequest`` saying why it cannot be."""
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise BadRequest(f"{what} is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from exc
    except ValueError as exc:  # UnicodeDecodeError, and integers too long to convert
        raise BadRequest(f"{what} is not valid JSON: {str(exc)[:80]}") from exc


def loads_object(raw: bytes | str, what: str = "the body") -> dict[str, Any]:
    """``raw`` as a JSON object, or ``BadRequest``."""
    data = loads(raw, what)
    if not isinstance(data, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return data
