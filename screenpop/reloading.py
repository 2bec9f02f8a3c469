"""Reloading the config file without a restart (``POST /api/admin/reload`` and ``SIGHUP``).

The file the service was started from is read again through the same loader
as ``serve`` (or ``demo``).  A valid file becomes a new ``Generation``
(generation.py) that replaces connectors, directory, roles, routing, lines
and rules in one assignment, so no call ever sees half of each; calls in
progress finish on the generation they pinned.  Open sockets stay open and
are re-checked against the new directory (hub.Hub.reconcile).

An invalid file changes nothing: the ``ConfigError``'s sentence (the one the
CLI prints: file, key path, what is wrong, never a secret) is the answer.

With several instances, a reload through the API is also announced on the
broker's fan-out (a message to ``RELOAD_CHANNEL``, a name no agent socket
listens to): every other instance then re-reads its own file and logs its
outcome in one line.  SIGHUP reloads only the process that receives it (IT
sending it to every process would otherwise reload each of them N times).

Some settings are bound at start-up (the listening socket, the store's and
the broker's connections, the AMI links screenpop opens to a PBX): a file
that changes them is refused as a whole, with a sentence naming the keys,
rather than applied in part; IT then restarts to apply it.  Refusing keeps
"what runs is what the file says" true for everything the answer calls
reloaded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from screenpop.broker import Broker, Delivery, Message
from screenpop.config import Settings
from screenpop.config.exposure import log_config_warnings
from screenpop.errors import BadRequest, ConfigError
from screenpop.generation import Generation, Generations, Shared, build_generation
from screenpop.hub import Hub

log = logging.getLogger(__name__)

Loader = Callable[[], Settings]
"""Reads and validates the config file again, as the command that started the service did."""

RELOAD_CHANNEL = "\x00screenpop:reload"
"""Where a reload is announced to the other instances (a control character: no agent id a hello names)."""


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload changed: the answer of ``POST /api/admin/reload`` and the SIGHUP log line."""

    generation: int
    loaded_at: str
    source: str
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    disconnected: int

    def to_json(self) -> dict[str, object]:
        return {
            "status": "reloaded",
            "generation": self.generation,
            "config": {"loaded_at": self.loaded_at, "source": self.source},
            "connectors": {
                "added": list(self.added),
                "changed": list(self.changed),
                "removed": list(self.removed),
                "kept": list(self.kept),
            },
            "agents_disconnected": self.disconnected,
        }

    def sentence(self) -> str:
        return (
            f"config reloaded from {self.source} (generation {self.generation}): connectors "
            f"added {_names(self.added)}, changed {_names(self.changed)}, removed {_names(self.removed)}, "
            f"kept {len(self.kept)}; {self.disconnected} agent socket(s) closed"
        )


class Reloader:
    """Reads the file again and swaps the generation; one reload at a time."""

    def __init__(
        self,
        load: Loader | None,
        generations: Generations,
        shared: Shared,
        hub: Hub,
        broker: Broker,
        after: Callable[[Settings], Awaitable[None]] | None = None,
    ) -> None:
        """``after`` applies what lives beside the generations (the sinks) once a new one is in."""
        self._load = load
        self._after = after
        self._generations = generations
        self._shared = shared
        self._hub = hub
        self._broker = broker
        self._lock = asyncio.Lock()
        self._instance = uuid.uuid4().hex  # tells this instance's own announcement apart
        self._announced: set[asyncio.Task[None]] = set()
        broker.listen(self._on_message)

    async def reload_everywhere(self) -> ReloadOutcome:
        """The API's reload: this instance now (its outcome is the answer), then the others told to."""
        outcome = await self.reload()
        body = json.dumps({"type": "reload", "from": self._instance, "generation": outcome.generation})
        try:
            await self._broker.publish([Delivery(RELOAD_CHANNEL, body)])
        except Exception as exc:  # this instance did reload; the others can still be sent SIGHUP
            log.warning("reload could not be announced to the other instances: %s", type(exc).__name__)
        return outcome

    def _on_message(self, message: Message) -> None:
        """Another instance reloaded through the API: re-read this instance's own file."""
        if message.agent_id != RELOAD_CHANNEL or _sender(message.body) == self._instance:
            return
        task = asyncio.create_task(self.reload_logged())
        self._announced.add(task)
        task.add_done_callback(self._announced.discard)

    async def reload(self) -> ReloadOutcome:
        """Apply the file as it is now, or raise ``BadRequest`` with the reason and change nothing."""
        async with self._lock:
            running = self._generations.latest
            settings = await self._read()
            _refuse_restart_only(running.settings, settings)
            try:
                new = await build_generation(settings, self._shared, running)
            except ConfigError as exc:
                raise BadRequest(str(exc)) from exc
            except Exception as exc:  # a connector kind's constructor failing: the running config stays
                log.warning("reload: building the new config failed", exc_info=True)
                raise BadRequest(
                    f"{settings.source}: a connector could not be built ({type(exc).__name__}); "
                    "the running config stays"
                ) from exc
            self._generations.replace(new)
            log_config_warnings(settings)
            if self._after is not None:
                await self._after(settings)
            disconnected = await self._hub.reconcile(running.settings)
            return _outcome(running, new, disconnected)

    async def reload_logged(self) -> None:
        """SIGHUP: the same reload, its outcome logged in one line (there is nobody to answer)."""
        try:
            outcome = await self.reload()
        except BadRequest as exc:
            log.error("reload refused, the running config stays: %s", exc)
        except Exception:  # a signal handler has no caller to raise to: say it, keep serving
            log.exception("reload failed, the running config stays")
        else:
            log.info("%s", outcome.sentence())

    async def _read(self) -> Settings:
        if self._load is None:
            raise BadRequest("this service was not started from a config file, so there is nothing to reload")
        try:
            return await asyncio.to_thread(self._load)
        except ConfigError as exc:
            raise BadRequest(str(exc)) from exc


RESTART_ONLY = ("server", "store", "broker")


def _refuse_restart_only(running: Settings, new: Settings) -> None:
    """A file that changes what is bound at start-up is refused whole, naming what needs a restart."""
    changed = [block for block in RESTART_ONLY if getattr(running, block) != getattr(new, block)]
    changed += [f"providers ({name}: an AMI link)" for name in _changed_ami_links(running, new)]
    if changed:
        raise BadRequest(
            f"{new.source}: {', '.join(changed)} cannot change without a restart; "
            "the running config stays (restart screenpop to apply this file)"
        )


def _changed_ami_links(running: Settings, new: Settings) -> list[str]:
    before = {p.name: p for p in running.providers if p.kind == "asterisk_ami"}
    after = {p.name: p for p in new.providers if p.kind == "asterisk_ami"}
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))


def _outcome(old: Generation, new: Generation, disconnected: int) -> ReloadOutcome:
    before = {c.name: c for c in old.settings.connectors}
    after = {c.name: c for c in new.settings.connectors}
    kept = tuple(n for n in after if n in before and new.connectors[n] is old.connectors[n])
    return ReloadOutcome(
        generation=new.number,
        loaded_at=new.loaded_at,
        source=new.settings.source,
        added=tuple(n for n in after if n not in before),
        changed=tuple(n for n in after if n in before and n not in kept),
        removed=tuple(n for n in before if n not in after),
        kept=kept,
        disconnected=disconnected,
    )


def _sender(body: str) -> object:
    try:
        return json.loads(body).get("from")
    except (ValueError, AttributeError):  # not an announcement this version wrote: not ours either
        return None


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else "none"
