"""Product names by product code, as the newest line gave them, kept so they cross processes cheaply.

A model and (for ``:since``) a history come back from the worker process at
the end of every refresh, and are unpickled under the GIL: while that runs,
the server's event loop waits.  Held as dicts, a catalogue of 100,000 SKUs
made 100,000 objects per dict to rebuild, 20+ ms on the loop at each refresh.
``Names`` pickles as one text and two arrays instead; it is a dict again only
where names are added (in the worker).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

NO_MOMENT = np.iinfo(np.int64).min
Packed = tuple[str, npt.NDArray[np.int64], npt.NDArray[np.int64]]


class Names:
    """Each product code's name and the moment of the line that gave it."""

    __slots__ = ("_at", "_names", "_packed")

    def __init__(self) -> None:
        self._names: dict[int, str] | None = {}
        self._at: dict[int, int] = {}
        self._packed: Packed | None = None

    def get(self, code: int) -> str | None:
        """The product's name, or None when no line named it."""
        if self._names is not None:
            return self._names.get(code)
        text, offsets, _moments = self._packed or _EMPTY
        if code + 1 >= len(offsets):
            return None
        return text[int(offsets[code]) : int(offsets[code + 1])] or None

    def offer(self, code: int, name: str, moment: int) -> None:
        """Take ``name`` for the product unless a newer line already named it."""
        names, at = self._writable()
        if moment >= at.get(code, int(NO_MOMENT)):
            names[code], at[code] = name, moment

    def copy(self) -> Names:
        copied = Names()
        if self._names is None:
            copied._names, copied._packed = None, self._packed  # packed arrays are never written
        else:
            copied._names, copied._at = dict(self._names), dict(self._at)
        return copied

    def _writable(self) -> tuple[dict[int, str], dict[int, int]]:
        if self._names is None:
            text, offsets, moments = self._packed or _EMPTY
            named = np.flatnonzero(moments != NO_MOMENT).tolist()
            self._names = {c: text[int(offsets[c]) : int(offsets[c + 1])] for c in named}
            self._at = {c: int(moments[c]) for c in named}
            self._packed = None
        return self._names, self._at

    def __getstate__(self) -> Packed:
        if self._names is None and self._packed is not None:
            return self._packed
        size = max(self._names or {0: ""}) + 1 if self._names else 0
        parts = [(self._names or {}).get(code, "") for code in range(size)]
        offsets = np.zeros(size + 1, np.int64)
        offsets[1:] = np.cumsum(np.fromiter(map(len, parts), np.int64, size))
        moments = np.full(size, NO_MOMENT, np.int64)
        if self._at:
            moments[np.fromiter(self._at.keys(), np.int64)] = np.fromiter(self._at.values(), np.int64)
        return "".join(parts), offsets, moments

    def __setstate__(self, state: Packed) -> None:
        self._names, self._at, self._packed = None, {}, state


_EMPTY: Packed = ("", np.zeros(1, np.int64), np.empty(0, np.int64))
