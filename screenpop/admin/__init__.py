"""What IT sees of a running service beyond ``/metrics``: webhook outcomes and every instance's view.

- ``webhook_log``: ``WebhookLog``, accepted and refused webhooks per provider and the last deliveries.
- ``board``: ``AdminBoard``, each instance's status snapshot and deliveries shared through Redis.
- ``visibility``: the reader's role hides sections in the admin answers as on a card.

Connector figures live with the engine that produces them (``lookup.ConnectorStats``).
"""

from __future__ import annotations

from screenpop.admin.board import AdminBoard, instance_name
from screenpop.admin.webhook_log import MAX_DELIVERIES, WebhookLog, refusal_reason, refused_check

__all__ = ["MAX_DELIVERIES", "AdminBoard", "WebhookLog", "instance_name", "refusal_reason", "refused_check"]
