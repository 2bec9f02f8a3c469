"""What every socket of the hub shares: the view a role gets, the encoded frame, the audit and counters."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from screenpop.broker import CardViews, Message, View, body_tail
from screenpop.card import build_customer
from screenpop.config import Settings
from screenpop.generation import Generations
from screenpop.metrics import Metrics

log = logging.getLogger(__name__)

TAILS_KEPT = 64
"""Encoded bodies remembered: a publish's deliveries reach the sockets one after another."""

AuditCard = Callable[[str, str, int, Sequence[str], str | None], None]
"""``Store.audit_card``: (agent, call, version, sections seen, provider); queues a row, never awaits."""


class Outlet:
    """What every socket of this hub does with a message it takes: pick its view, audit, count.

    A socket's view follows the role of the token it holds *now* (read when
    the frame is sent, so a token refreshed with another role takes effect
    at once), and only what was written to a socket is audited, on the
    instance holding it, with the sections that frame carried data for.
    """

    def __init__(self, generations: Generations, audit: AuditCard, metrics: Metrics) -> None:
        self._generations = generations
        self._audit = audit
        self._metrics = metrics
        self._hidden: dict[str, frozenset[str]] = {}
        self._hidden_for: Settings | None = None
        self._tails: dict[int, tuple[str, bytes]] = {}  # id(body) -> (body, its encoded tail)

    def hidden(self, role: str) -> frozenset[str]:
        """What ``role`` hides under the latest config (a reload's role change applies to the next frame)."""
        settings = self._generations.latest.settings
        if settings is not self._hidden_for:
            self._hidden, self._hidden_for = {}, settings
        found = self._hidden.get(role)
        if found is None:
            found = self._hidden[role] = settings.hidden_sections(role)
        return found

    def frame(self, message: Message, role: str) -> tuple[bytes, View | None] | None:
        """The bytes a socket of ``role`` is sent for ``message``, and the card view they carry.

        A body (a card's view, a call status) is the same for every socket it
        goes to (a queue call: every member's), so it is encoded once; per
        socket only its event id goes in front.  None when the card has no
        view such a socket may see.
        """
        card = message.card
        if card is None:
            return frame_bytes(message.event_id, self._tail(message.body)), None
        hidden = self.hidden(role)
        view = card.view_for(hidden) or narrowed(card, hidden)
        if view is None:
            return None
        return frame_bytes(message.event_id, self._tail(view.body)), view

    def _tail(self, body: str) -> bytes:
        found = self._tails.get(id(body))
        if found is not None and found[0] is body:  # the body is held here, so its id is not reused
            return found[1]
        if len(self._tails) >= TAILS_KEPT:
            self._tails.clear()
        tail = body_tail(body).encode()
        self._tails[id(body)] = (body, tail)
        return tail

    def sent(self, agent_id: str, card: CardViews, view: View) -> None:
        """A card view reached a socket: the audit trail's write-behind queue takes it (never awaits)."""
        self._audit(agent_id, card.call_id, card.version, view.shown, card.provider)

    def stale_card(self, agent_id: str, event_id: str) -> None:
        """A card version this socket already had (or a transfer overtook): counted, not sent."""
        self._metrics.frames_out_of_order.inc()
        log.info("agent %s: card %s is not newer than one already sent; not sent", agent_id, event_id)

    def out_of_order(self, agent_id: str, event_id: str) -> None:
        """A message older than one already sent: counted and logged, since sending it now would reorder."""
        self._metrics.frames_out_of_order.inc()
        log.warning("agent %s: message %s arrived after a later one and was not sent", agent_id, event_id)


def narrowed(card: CardViews, hidden: frozenset[str]) -> View | None:
    """A view for ``hidden`` made here from another instance's card: its sections minus the hidden ones.

    Instances on different configs (a SIGHUP to one, a rolling reload) render
    a card for their own roles only; when none of those hides all a local
    role hides, the agent got no card at all.  The customer and badges are
    emptied (a hidden section may have made them); everything else a role
    may see stays.  Less, never more.
    """
    widest = max(card.views, key=lambda view: len(view.hidden), default=None)
    if widest is None:
        return None
    body = json.loads(widest.body)
    shown = body["card"]
    shown["sections"] = {name: s for name, s in shown["sections"].items() if name not in hidden}
    shown["customer"], shown["badges"] = build_customer({}, {}).to_json(), []
    kept = tuple(name for name in widest.shown if name not in hidden)
    log.info("card %s v%d had no view hiding %s; sent narrowed", card.call_id, card.version, sorted(hidden))
    return View(hidden, json.dumps(body, separators=(",", ":")), kept)


def frame_bytes(event_id: str, tail: bytes) -> bytes:
    """``broker.frame_with_id`` for an encoded body: ``event_id`` first, then the body's members."""
    return b'{"event_id":"%s"%s' % (event_id.encode(), tail)
