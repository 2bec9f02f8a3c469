"""What counts as Redis being away, and a short reason for /readyz (the broker's and the cache's)."""

from __future__ import annotations

from redis.exceptions import RedisError

FAULTS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


def describe_fault(exc: BaseException) -> str:
    """A short reason for /readyz: ``connection refused`` rather than a driver's sentence."""
    chain = _causes(exc)
    text = " ".join(str(link) for link in chain).lower()
    if (
        any(isinstance(link, ConnectionRefusedError) for link in chain)
        or "refused" in text
        or "error 111 " in text
    ):
        return "connection refused"
    if any(isinstance(link, TimeoutError) for link in chain) or "timeout" in text or "timed out" in text:
        return "timeout"
    if "closed" in text or "reset" in text or "eof" in text:
        return "connection lost"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from, a few links deep."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and len(chain) < 5:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain
