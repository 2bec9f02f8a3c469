"""Phone systems, keyed by the ``kind`` of a ``providers:`` block.

The webhook kinds are looked up here by the HTTP handler; ``asterisk_ami``
is not one (screenpop connects out to the PBX), so ``make_provider`` refuses
it and the application starts an ``AmiListener`` for such a block instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import ConfigError
from screenpop.providers.amazon_connect import AmazonConnectProvider
from screenpop.providers.ami_events import parse_ami_stream
from screenpop.providers.asterisk_ami import AmiListener
from screenpop.providers.base import SignedRequest, WebhookProvider, WebhookReply, WebhookRequest
from screenpop.providers.generic import GenericProvider
from screenpop.providers.telnyx import TelnyxProvider
from screenpop.providers.twilio import TwilioProvider

PROVIDER_KINDS: Mapping[str, type[WebhookProvider]] = MappingProxyType(
    {
        GenericProvider.kind: GenericProvider,
        TwilioProvider.kind: TwilioProvider,
        TelnyxProvider.kind: TelnyxProvider,
        AmazonConnectProvider.kind: AmazonConnectProvider,
    }
)
LISTENER_KINDS = frozenset({"asterisk_ami"})


def make_provider(settings: ProviderSettings, server: ServerSettings) -> WebhookProvider:
    """The webhook provider for one ``providers:`` block (a ConfigError for a non-webhook kind)."""
    if settings.kind in LISTENER_KINDS:
        raise ConfigError(
            f"provider {settings.name!r} is kind {settings.kind}: it has no webhook, screenpop "
            "connects to the PBX's AMI port instead (AmiListener)"
        )
    kind = PROVIDER_KINDS.get(settings.kind)
    if kind is None:
        raise ConfigError(
            f"provider {settings.name!r}: unknown kind {settings.kind!r} "
            f"(known: {', '.join(sorted([*PROVIDER_KINDS, *LISTENER_KINDS]))})"
        )
    return kind(settings, server)


__all__ = [
    "LISTENER_KINDS",
    "PROVIDER_KINDS",
    "AmiListener",
    "SignedRequest",
    "WebhookProvider",
    "WebhookReply",
    "WebhookRequest",
    "make_provider",
    "parse_ami_stream",
]
