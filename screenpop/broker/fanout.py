"""The Redis broker's fan-out: this instance's listeners, each fan-out entry handed to them once, in order.

Every instance hands out fan-out entries (its own included) in fan-out
order, which is every agent stream's id order, whichever of its Redis
answers (the reader's XREAD or a publish's script) brings an entry first.
An agent's socket never sees a later message before an earlier one, so none
is lost to the socket's "already sent" check.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from screenpop.broker.local_fallback import OUTBOX_MAX, LocalIds
from screenpop.broker.protocol import Delivery, FrameHandler, Message, from_fields, id_key
from screenpop.broker.redis_layout import FANOUT_KEY, MISSED_MAX, pairs

log = logging.getLogger(__name__)

READ_COUNT = 200
READ_BLOCK_MS = 250


class Fanout:
    """Where this instance stands in the fan-out stream, and who hears what it hands out."""

    def __init__(self, instance_id: str, ids: LocalIds) -> None:
        self.instance_id = instance_id
        self._ids = ids
        self.handlers: list[FrameHandler] = []
        self.position: str | None = None
        """The last fan-out entry handed out here (None until connected)."""
        self.in_flight: dict[str, bool] = {}
        """Publish tokens whose append is in flight: True once the reader handed out their entry."""
        # Tokens delivered here with local ids (the append failed): their entry, if the append
        # reached Redis after all, is not to be delivered here again.  Bounded like the outbox.
        self._delivered_here: OrderedDict[str, None] = OrderedDict()

    def delivered_here(self, token: str) -> None:
        """The publish ``token`` reached the agents here with local ids; its entry is not for them."""
        self._delivered_here[token] = None
        if len(self._delivered_here) > OUTBOX_MAX:
            self._delivered_here.popitem(last=False)

    async def read(self, redis: Redis) -> None:
        """Deliver what other instances published since our position; a timeout here means Redis hangs."""
        position = self.position or "0-0"
        found = await redis.xread({FANOUT_KEY: position}, count=READ_COUNT, block=READ_BLOCK_MS)
        for _, entries in _stream_entries(found):
            for entry_id, fields in entries:
                self.take(str(entry_id), fields)

    def take(self, entry_id: str, fields: dict[str, str]) -> None:
        """Deliver one fan-out entry after those before it, once, whichever answer brought it first.

        Our own entries are delivered here too when the reader (or another
        publish's ``missed``) brings them before their own script's reply;
        only what our sockets had before it reached Redis is skipped: an
        outbox flush, or an append whose reply was lost after Redis ran it
        (its publish delivered with local ids).  An own entry of a publish
        still waiting for its reply is marked arrived, so that publish does
        not deliver it again should the reply be lost.
        """
        if self.position is not None and id_key(entry_id) <= id_key(self.position):
            return
        self.position = entry_id
        if fields.get("o") == self.instance_id:
            tokens = fields.get("k", "").split()
            for token in tokens:
                if token in self.in_flight:
                    self.in_flight[token] = True
            had = [token for token in tokens if token in self._delivered_here]
            for token in had:
                del self._delivered_here[token]
            if fields.get("l") == "1" or (tokens and len(had) == len(tokens)):
                return
        self._on_message(fields.get("m", ""))

    def take_own(self, fan_id: str, gapless: bool) -> bool:
        """Whether our own fan-out entry is to be delivered now, from what we published.

        Delivery follows the fan-out stream's order, which is every agent
        stream's id order on every instance.  The reader's answer may overtake
        this script's reply: then it has delivered our entry already, from the
        entry itself, and we must not again.  When ``missed`` did not reach up
        to our entry (too many to fetch), the reader delivers it in its place.
        """
        position = self.position
        if position is None:
            return True  # no position to order by (not connected yet): as before, at once
        if not gapless or id_key(fan_id) <= id_key(position):
            return False
        self.position = fan_id
        return True

    def appended(
        self, deliveries: Sequence[Delivery], reply: Sequence[Any], sent_from: str | None, delivered: bool
    ) -> list[str]:
        """After an append (``reply``: ids, fan-out id, missed): the entries before ours, then ours; the ids.

        ``sent_from``: the position the append was sent with; ``delivered``:
        this instance's sockets had these messages already (an outbox flush).
        """
        raw_ids, fan_id, missed = reply
        ids = [str(i) for i in raw_ids]
        for event_id in ids:
            self._ids.note(event_id)
        for entry_id, entry in missed:
            self.take(str(entry_id), pairs(entry))
        gapless = sent_from is not None and len(missed) < MISSED_MAX
        if fan_id and self.take_own(str(fan_id), gapless) and not delivered:
            self.deliver_all(deliveries, ids)
        return ids

    def deliver_all(self, deliveries: Sequence[Delivery], ids: Sequence[str]) -> None:
        for delivery, event_id in zip(deliveries, ids, strict=True):
            self.deliver(Message.of(delivery, event_id))

    def deliver(self, message: Message) -> None:
        for handler in list(self.handlers):
            try:
                handler(message)
            except Exception:  # one broken listener must not starve the others
                log.exception("frame handler failed for agent %s", message.agent_id)

    def _on_message(self, data: str) -> None:
        try:
            batch = json.loads(data)
            packets = [pairs(packet) for packet in batch["p"]]
            messages = [
                from_fields(str(agent), str(event_id), packets[int(index)])
                for agent, event_id, index in batch["d"]
            ]
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("ignoring a malformed broker message")
            return
        for message in messages:
            self._ids.note(message.event_id)
            self.deliver(message)


def _stream_entries(found: Any) -> list[tuple[Any, list[tuple[Any, dict[str, str]]]]]:
    """XREAD's answer as (stream, entries) pairs: RESP2 gives a list, RESP3 a mapping."""
    if not found:
        return []
    if isinstance(found, dict):
        return list(found.items())
    return [(stream, entries) for stream, entries in found]
