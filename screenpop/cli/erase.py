"""``screenpop erase``: a caller's right to erasure, for IT staff to carry out in one command.

The store's part (``Store.erase``) runs first and finds the caller's calls;
Redis is then cleared of what concerns those calls or that number
(``broker.erasure``); last, one audit row says that an erasure happened,
by whom (``--by``, else the OS user) and how many rows or entries went
from each place, never the number or the id.  A second run finds nothing,
removes nothing, and is audited too.

With ``broker.url: memory://`` the running service's own memory (cards kept
for replay, the in-memory section cache) cannot be reached from another
process: those expire by themselves (``broker.replay_s``, each connector's
``cache_ttl_s``), and the command says so.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os

from redis.exceptions import RedisError

from screenpop.broker import describe_fault
from screenpop.broker.erasure import Concerning, erase_from_redis
from screenpop.cli.arguments import existing_store, phone_number
from screenpop.cli.output import print_table
from screenpop.config import Settings
from screenpop.errors import Unavailable
from screenpop.store import ErasureTarget, Store
from screenpop.store.erasure import CallRef


def erase(args: argparse.Namespace, settings: Settings) -> int:
    target = erasure_target(args.number, args.customer, settings)
    existing_store(settings, "erase")
    by = args.by or os_user()
    counts, left, redis_fault = asyncio.run(_erase(settings, target, by))
    print_table([["place", "removed"], *([place, str(n)] for place, n in counts.items())])
    if left.get("calls") or left.get("lookups"):
        print(
            f"kept: {left['calls']} calls and {left['lookups']} lookups of the numbers this customer called "
            "from, whose card did not name them (a number can be shared); if a number is the customer's "
            "own, erase it too with screenpop erase --number"
        )
    if not settings.broker.url.startswith("redis"):
        print(
            f"broker {settings.broker.url}: cards kept in the running service's memory cannot be reached "
            f"from here; they expire within broker.replay_s ({settings.broker.replay_s} s), and cached "
            "sections within each connector's cache_ttl_s"
        )
    if not any(n for place, n in counts.items() if place != "redis_cache"):
        print(
            "nothing of that caller was found: a number is read with numbers.default_region "
            f"({settings.numbers.default_region}), a customer id must match the card's exactly"
        )
    print(f"erasure recorded in the audit log by {by}")
    if redis_fault is not None:
        raise Unavailable(
            f"the store's rows are erased, but Redis could not be reached ({redis_fault}); "
            "run the same screenpop erase again once it is back"
        )
    return 0


def os_user() -> str:
    """Who runs the command, for the audit row; a container's user without a passwd entry is its uid.

    ``getpass.getuser`` reads the environment, then the passwd database, and
    raises when a random UID (OpenShift, ``docker run --user 12345``) has no
    entry: the erasure must not fail over the name it is recorded under.
    """
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def erasure_target(number: str | None, customer: str | None, settings: Settings) -> ErasureTarget:
    """What ``--number`` or ``--customer`` names; ``ValueError`` with one sentence when it names nothing."""
    if number is not None:
        return ErasureTarget(
            number=phone_number(number, settings), default_region=settings.numbers.default_region
        )
    connector, _, customer_id = (part.strip() for part in (customer or "").partition(":"))
    if not connector or not customer_id:
        raise ValueError("--customer takes CONNECTOR:ID, e.g. --customer accounting:A-1001")
    if connector not in {c.name for c in settings.connectors}:
        names = ", ".join(c.name for c in settings.connectors) or "none"
        raise ValueError(
            f"--customer names connector {connector!r}, which the config does not have ({names})"
        )
    return ErasureTarget(connector=connector, customer_id=customer_id)


def concerning(target: ErasureTarget, found: list[CallRef]) -> Concerning:
    """What marks the caller's keys in Redis: their calls, their E.164 anywhere, their ids where ids go."""
    texts: tuple[str, ...] = ()
    numbers: frozenset[str] = frozenset()
    if target.number is not None and target.number.startswith("+"):
        texts = (target.number,)
    elif target.number is not None:
        numbers = frozenset({target.number})  # bare digits could be part of anything: as a number only
    customer = None
    if target.connector is not None and target.customer_id is not None:
        customer = (target.connector, target.customer_id)
    return Concerning(frozenset((p, c) for _, p, c in found), texts, numbers, customer)


async def _erase(
    settings: Settings, target: ErasureTarget, by: str
) -> tuple[dict[str, int], dict[str, int], str | None]:
    store = await Store.open(settings.store.url)
    try:
        counts, found, left = await store.erase(target)
        fault = None
        if settings.broker.url.startswith("redis"):
            try:
                counts.update(await erase_from_redis(settings.broker.url, concerning(target, found)))
            except (RedisError, OSError, TimeoutError) as exc:
                fault = describe_fault(exc)  # reported after the audit row is written
        await store.audit_erasure(by, counts)
    finally:
        await store.close()
    return counts, left, fault
