"""The contract between screenpop and a connector kind.

A connector kind is a class registered under the entry-point group
``screenpop.connectors`` (our own ``sql`` and ``http`` kinds are registered
the same way in pyproject.toml), so a contact center can add a kind for its
own system without touching screenpop.  The class declares an ``Options``
pydantic model for its own config keys; screenpop validates the connector's
block against it, so a typo in a kind-specific key is refused like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import aiohttp

ENTRY_POINT_GROUP = "screenpop.connectors"


class ConnectorOptions(BaseModel):
    """Base of a kind's own options: frozen, and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def parameters(self) -> Iterator[tuple[tuple[int | str, ...], str]]:
        """Each call parameter these options name, with the key path (under the block) naming it.

        screenpop refuses the config when one of them is a parameter that no
        connector or call can bind (see ``screenpop.model.is_call_parameter``);
        a kind that names parameters in its own keys overrides this.
        """
        return iter(())

    def needs_its_attributes(self) -> bool:
        """Whether a call that lacks an ``attr_KEY`` these options name skips the connector (SPEC 3).

        A query or a URL cannot run without a value, so by default it is
        skipped with ``no attribute KEY``; a kind that reads a missing value
        as a condition that does not hold (``rules``) answers False and runs.
        """
        return True


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What screenpop lends every connector.

    ``http`` is the one shared client session (never open one per lookup);
    ``normalize`` turns a free-form stored number into E.164 (or None) with
    the configured default region, for kinds that index legacy data;
    ``read_numbers`` reads a legacy table's cell the way people fill one in
    (labels, extensions, several numbers; SPEC 3), in the row's own country
    when it is given and known. Use it through ``stored_numbers``.
    """

    default_region: str
    normalize: Callable[[str], str | None]
    http: aiohttp.ClientSession | None = None
    config_dir: Path = Path(".")
    read_numbers: Callable[[str, object], tuple[str, ...]] | None = None

    def stored_numbers(self, raw: str, row_region: object = None) -> tuple[str, ...]:
        """Every E.164 number a stored cell holds; ``row_region`` is the row's ISO country code, if any.

        A context built without ``read_numbers`` (a kind's own unit tests)
        reads the cell as one number with ``normalize``.
        """
        if self.read_numbers is not None:
            return self.read_numbers(raw, row_region)
        e164 = self.normalize(raw)
        return (e164,) if e164 else ()


@dataclass(frozen=True, slots=True)
class LookupResult:
    """A connector's answer for one number.

    ``data`` None means nothing matched (the section is ``not_found``);
    ``rows`` is how many records matched, so that several rows for one
    number can be shown as a possible duplicate.
    """

    data: dict[str, Any] | None
    rows: int = 0
    extra_rows: tuple[dict[str, Any], ...] = ()


@runtime_checkable
class Connector(Protocol):
    """One configured source of caller data."""

    name: str

    async def start(self) -> None:
        """Open pools or indexes once, before the first lookup."""

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        """Answer for one caller; raise ConnectorError with a safe message on failure.

        ``params`` holds the number forms (strings) and, for each `needs`
        field, `<connector>_<field>` with the value as the other connector
        returned it (an integer id stays an integer, so strict drivers bind it).
        """

    async def check(self) -> str | None:
        """Prove the source can be reached (``screenpop check``).

        It may return one line IT should read beside "reachable" (a normalized
        index's size and how many stored numbers it could not read).
        """

    async def close(self) -> None:
        """Release everything ``start`` opened."""


class ConnectorKind(Protocol):
    """The class an entry point names: it builds connectors from options.

    A kind whose answers must never be cached (they are computed in
    microseconds from what the call already holds) sets a class attribute
    ``cacheable = False``; a ``cache_ttl_s`` on its block is then a config error.

    A kind that accepts only some shapes of ``needs`` (``purchases`` answers
    for exactly one customer key) defines a classmethod
    ``check_needs(needs: tuple[str, ...]) -> str | None`` returning one
    sentence on what is wrong, or None; screenpop refuses the config with it
    at load time, so the mistake never waits for the first call.
    """

    Options: ClassVar[type[ConnectorOptions]]

    def __call__(self, name: str, options: Any, context: ConnectorContext) -> Connector: ...
