"""How messages reach agents, wherever their sockets are: publish, listen, replay.

``protocol``: the ``Broker`` Protocol and what it carries (``Delivery``,
``Message``, ``CardViews``, ``View``), event-id order and the frame and
stream-entry encodings.  ``memory``: ``broker.url: memory://``, one process.
``redis``: ``broker.url: redis://…``, several instances, with its parts:
``redis_layout`` (key names, ids), ``scripts`` (the ``*.lua`` files),
``fanout`` (handing entries out in order), ``replay``, ``local_fallback``
(while Redis is away) and ``faults``; ``redis_url``: the one place a
client is made from a ``redis://``, ``rediss://`` or ``redis+sentinel://``
URL.  ``factory``: ``make_broker`` from the URL.
"""

from screenpop.broker.factory import make_broker
from screenpop.broker.faults import describe_fault
from screenpop.broker.memory import MemoryBroker
from screenpop.broker.protocol import (
    Broker,
    CardViews,
    Delivery,
    FrameHandler,
    Message,
    Moved,
    Ring,
    Rung,
    View,
    body_tail,
    format_id,
    frame_with_id,
    from_fields,
    id_key,
    parse_id,
    to_fields,
)
from screenpop.broker.redis import RedisBroker
from screenpop.broker.redis_url import redis_client

__all__ = [
    "Broker",
    "CardViews",
    "Delivery",
    "FrameHandler",
    "MemoryBroker",
    "Message",
    "Moved",
    "RedisBroker",
    "Ring",
    "Rung",
    "View",
    "body_tail",
    "describe_fault",
    "format_id",
    "frame_with_id",
    "from_fields",
    "id_key",
    "make_broker",
    "parse_id",
    "redis_client",
    "to_fields",
]
