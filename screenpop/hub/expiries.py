"""Every socket's token ``exp`` on the hub's one timer."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from screenpop.clock import Clock, Timer

T = TypeVar("T")


class Expiries(Generic[T]):
    """Every socket's token ``exp`` on one timer: the soonest is armed, the others wait in a heap.

    A timer per socket costs a handle, a context and a callback (~250 bytes
    each, held for hours by every idle agent); an entry here costs a third of
    that.  A closed socket's entry is emptied at once, so it holds nothing,
    and the heap is rebuilt without such entries once they are half of it.
    """

    def __init__(self, clock: Clock, due: Callable[[T], None]) -> None:
        self._clock = clock
        self._due = due
        self._heap: list[list[Any]] = []  # [exp, sequence, socket or None once forgotten]
        self._sequence = itertools.count()
        self._timer: Timer | None = None
        self._armed_for = math.inf
        self._forgotten = 0

    def watch(self, exp: float, socket: T) -> list[Any]:
        """Call ``due(socket)`` once ``exp`` has come; the entry returned is what ``forget`` takes."""
        entry = [exp, next(self._sequence), socket]
        heapq.heappush(self._heap, entry)
        self._arm()
        return entry

    def forget(self, entry: list[Any]) -> None:
        """The socket closed: its entry is emptied (and the heap rebuilt once half of it is empty)."""
        if entry[2] is None:
            return
        entry[2] = None
        self._forgotten += 1
        if self._forgotten > max(64, len(self._heap) // 2):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._forgotten = 0

    def _arm(self) -> None:
        if not self._heap or self._heap[0][0] >= self._armed_for:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = self._heap[0][0]
        self._timer = self._clock.call_at(self._armed_for, self._fire)

    def _fire(self) -> None:
        """Hand out every entry now due (the clock may fire early after a step back: then none is)."""
        self._timer, self._armed_for = None, math.inf
        now = self._clock.time()
        due: list[T] = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            socket, entry[2] = entry[2], None
            if socket is None:
                self._forgotten -= 1
            else:
                due.append(socket)
        for socket in due:
            self._due(socket)  # may watch the socket again (a refresh moved its exp)
        self._arm()
