"""Webhook signatures made the way each phone system makes them, independently of screenpop's verifiers.

The generic scheme and Amazon Connect's Lambda use the HMAC formula of SPEC
section 4, written out here with ``hmac``; Telnyx signs ``"{timestamp}|{body}"``
with Ed25519 (PyNaCl, as the telnyx SDKs' own webhook tests do).  Twilio
requests are signed with the ``twilio`` package's own ``RequestValidator``
where they are built.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from nacl.signing import SigningKey

WEBHOOK_SECRET = "pbx-webhook-secret"


def hmac_hex(secret: str, body: bytes, at: int) -> str:
    """The ``v1`` value: hex HMAC-SHA256 of ``"{at}." + body`` with ``secret`` (SPEC section 4)."""
    return hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The generic Screenpop-Signature header, ``t=<at>,v1=<mac>``; ``at`` defaults to now."""
    stamp = int(time.time()) if at is None else at
    return f"t={stamp},v1={hmac_hex(secret, body, stamp)}"


def telnyx_headers(key: SigningKey, body: bytes, at: int) -> dict[str, str]:
    """Telnyx's two signature headers: Ed25519 over ``"{at}|" + body``, base64 of the detached signature."""
    signature = key.sign(str(at).encode() + b"|" + body).signature
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": str(at)}
