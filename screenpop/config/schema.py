"""The shape of the one YAML file IT staff edit: frozen pydantic models, one per block.

Each block checks itself here; what is wrong between blocks is found in
``cross_checks``, and ``loading`` reads the file and puts the two together.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from screenpop.conditions import yaml_boolean_among_texts
from screenpop.config.origins import browser_origin
from screenpop.config.redis_urls import check_redis_url, is_redis_url

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
Name = Annotated[str, Field(pattern=IDENTIFIER, max_length=64)]
Origin = Annotated[str, AfterValidator(browser_origin)]
"""An entry of ``server.allowed_origins``, kept as a browser sends it: the checks compare strings."""


class Frozen(BaseModel):
    # hide_input_in_errors: a ValidationError's own text (shown by --debug
    # tracebacks) must not quote a secret's value either.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class ServerSettings(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = Field("http://localhost:8080", pattern=r"^https?://[^/\s]+")
    allowed_origins: tuple[Origin, ...] = ("http://localhost:8080",)
    max_body_bytes: int = Field(65536, ge=1024, le=10 * 1024 * 1024)
    max_inflight_calls: int = Field(500, ge=1)
    shutdown_grace_s: float = Field(8.0, ge=0, le=60)
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    read_timeout_s: float = Field(30.0, ge=0.1, le=3600)


class NumbersSettings(Frozen):
    default_region: str = Field("US", pattern=r"^[A-Z]{2}$")

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (try US, GB, DE)")
        return value


class StoreSettings(Frozen):
    url: str = "sqlite+aiosqlite:///var/screenpop.db"

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return check_database_url(value)


class BrokerSettings(Frozen):
    url: str = "memory://"
    replay_s: int = Field(300, ge=1, le=86400)

    @field_validator("url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        """A malformed Redis URL is refused here, in words, not at the first connection (or in a retry loop).

        The broker, the section cache and the shared SQL index all use this
        URL; what is kept is ``check_redis_url``'s form of it (scheme in lower
        case, password percent-encoded), which redis-py reads as it was meant.
        """
        if value.lower() == "memory://":
            return "memory://"
        if not is_redis_url(value):
            raise ValueError("must be memory:// or a redis://, rediss:// or redis+sentinel:// URL")
        return check_redis_url(value)


class AgentEntry(Frozen):
    id: str = Field(min_length=1, max_length=128)
    name: str | None = None
    role: str = "agent"
    queues: tuple[str, ...] = ()


class AgentsSettings(Frozen):
    token_secret: str = Field(min_length=32)
    directory: tuple[AgentEntry, ...] = ()

    @field_validator("directory")
    @classmethod
    def _unique_ids(cls, value: tuple[AgentEntry, ...]) -> tuple[AgentEntry, ...]:
        _refuse_duplicates([a.id for a in value], "agent id")
        return value

    def entry(self, agent_id: str) -> AgentEntry | None:
        """The directory's entry for ``agent_id``, or None."""
        return made_for(self.directory, DirectoryIndex).by_id.get(agent_id)

    def in_queue(self, queue: str) -> list[AgentEntry]:
        """The queue's members, in directory order."""
        return list(made_for(self.directory, DirectoryIndex).by_queue.get(queue, ()))


class DirectoryIndex:
    """An agent directory by id and by queue."""

    __slots__ = ("by_id", "by_queue")

    def __init__(self, directory: tuple[AgentEntry, ...]) -> None:
        self.by_id: dict[str, AgentEntry] = {}
        queues: dict[str, list[AgentEntry]] = {}
        for agent in directory:
            self.by_id.setdefault(agent.id, agent)
            for queue in dict.fromkeys(agent.queues):  # an agent listed twice in a queue rings once
                queues.setdefault(queue, []).append(agent)
        self.by_queue = {queue: tuple(members) for queue, members in queues.items()}


SUPERVISOR_ROLE = "supervisor"
"""The role that may use the admin and lookup endpoints unless its entry says otherwise (SPEC 4)."""


class RoleSettings(Frozen):
    """What a role hides, and which endpoints beyond the agent's own it may use.

    ``admin`` and ``lookup`` are ``None`` when the entry does not say: the
    role named ``supervisor`` then has both (so configs written before these
    keys keep their lookups), every other role neither.
    """

    hide: tuple[str, ...] = ()
    admin: bool | None = None
    lookup: bool | None = None


class RoutingSettings(Frozen):
    unrouted: str = Field("queue:support", pattern=r"^(queue|agent):\S+$|^none$")


class HeaderSecret(Frozen):
    name: str = Field(min_length=1)


class ProviderSettings(Frozen):
    """One phone system allowed to post events; which keys apply depends on ``kind``."""

    name: Name
    kind: Literal["generic", "twilio", "telnyx", "asterisk_ami", "amazon_connect"]
    secret: str | None = None
    secrets: tuple[str, ...] = ()
    auth_token: str | None = None
    public_key: str | None = None
    header: HeaderSecret | None = None
    host: str | None = None
    port: int = Field(5038, ge=1, le=65535)
    username: str | None = None
    agents: dict[str, str] = Field(default_factory=dict)
    tolerance_s: int = Field(300, ge=1, le=3600)

    @model_validator(mode="after")
    def _kind_keys(self) -> ProviderSettings:
        needed = {
            "generic": self.secret or self.secrets,
            "amazon_connect": self.secret or self.secrets,
            "twilio": self.auth_token,
            "telnyx": self.public_key,
            "asterisk_ami": self.host and self.username and self.secret,
        }[self.kind]
        if not needed:
            raise ValueError(f"a {self.kind} provider needs {_PROVIDER_KEYS[self.kind]}")
        return self

    def signing_secrets(self) -> tuple[str, ...]:
        """Every secret accepted while keys rotate, newest first."""
        return tuple(s for s in (self.secret, *self.secrets) if s)


_PROVIDER_KEYS = {
    "generic": "`secret` (or `secrets: [new, old]`)",
    "amazon_connect": "`secret` (with `header: {name: X-Api-Key}` for a static key)",
    "twilio": "`auth_token`",
    "telnyx": "`public_key` (base64, from the Telnyx portal)",
    "asterisk_ami": "`host`, `username` and `secret`",
}


MAX_DISPOSITION = 64
"""The longest disposition a note may carry when ``card.dispositions`` is omitted."""


class CardSettings(Frozen):
    deadline_ms: int = Field(1500, ge=50, le=60000)
    history: int = Field(5, ge=0, le=50)
    dispositions: tuple[Annotated[str, Field(min_length=1, max_length=MAX_DISPOSITION)], ...] | None = None
    """The only dispositions a note may carry; None (omitted) accepts any text of 1-64 characters."""

    @field_validator("dispositions")
    @classmethod
    def _choosable(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """An empty list would refuse every note (the widget's form offers nothing to pick)."""
        if value is not None and not value:
            raise ValueError("an empty list would refuse every note; omit the key to accept any text")
        if value and any(not choice.strip() for choice in value):
            raise ValueError("a blank disposition cannot be told apart on the form; remove it")
        _refuse_duplicates(list(value or ()), "disposition")
        return value

    def disposition_problem(self, value: object) -> str | None:
        """Why ``value`` is not a disposition a note may carry (SPEC release 2), or None if it is."""
        if self.dispositions is not None:
            if value in self.dispositions:
                return None
            return f"disposition must be one of: {', '.join(self.dispositions)}"
        if isinstance(value, str) and 1 <= len(value) <= MAX_DISPOSITION and value.strip():
            return None
        return f"disposition must be text of 1 to {MAX_DISPOSITION} characters"


class LineSettings(Frozen):
    """A number callers dial (SPEC 3 "Lines"): its name on the card, and the queue it rings by default."""

    number: str = Field(min_length=2, max_length=16)
    name: str = Field(min_length=1, max_length=100)
    queue: str | None = Field(None, min_length=1, max_length=128)

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if (
            parsed is None
            or not phonenumbers.is_possible_number(parsed)
            or phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != value
        ):
            raise ValueError(f"{value!r} must be a number in E.164, e.g. +18005550100")
        return value


FieldFormat = Literal["text", "number", "currency", "percent", "date", "datetime"]


class DisplayField(Frozen):
    label: str | None = None
    format: FieldFormat = "text"
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    link: str | None = None


class BadgeRule(Frozen):
    """A condition on one field that puts a badge on the card before the agent answers."""

    field: str
    above: float | None = None
    below: float | None = None
    equals: str | float | bool | None = None
    # bool listed first: YAML's unquoted NO stays a boolean, refused below, not the number 0.0
    in_: tuple[bool | str | float, ...] | None = Field(None, alias="in")
    text: str = Field(min_length=1)
    level: Literal["info", "warn", "alert"] = "info"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True)

    @model_validator(mode="after")
    def _one_condition(self) -> BadgeRule:
        given = [k for k in ("above", "below", "equals", "in_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a badge needs exactly one of `above`, `below`, `equals`, `in`")
        if yaml_boolean_among_texts(self.in_):
            raise ValueError(
                f"{self.field}: `in` names a YAML boolean (an unquoted yes, no, on, off, true or false) "
                "among texts: quote it (e.g. 'NO' for Norway)"
            )
        return self


class DisplaySettings(Frozen):
    title: str | None = None
    fields: dict[str, DisplayField] = Field(default_factory=dict)
    badges: tuple[BadgeRule, ...] = ()


class CircuitSettings(Frozen):
    failures: int = Field(5, ge=1, le=1000)
    reset_s: float = Field(30.0, gt=0, le=3600)


IDENTITY_KEYS = ("id", "name")


class ConnectorSettings(BaseModel):
    """Keys every connector has; the kind's own keys are checked by its Options model."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    name: Name
    kind: str = Field(min_length=1)
    timeout_ms: int = Field(1000, ge=1, le=60000)
    cache_ttl_s: float = Field(0, ge=0)
    cache_stale_s: float | None = Field(None, ge=0)
    needs: tuple[str, ...] = ()
    identity: dict[str, str] = Field(default_factory=dict)
    display: DisplaySettings | None = None
    max_concurrency: int = Field(20, ge=1, le=10000)
    circuit: CircuitSettings = CircuitSettings()
    options: Any = Field(None, exclude=True)

    @field_validator("needs")
    @classmethod
    def _needs_shape(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for need in value:
            if need.count(".") != 1 or not all(need.split(".")):
                raise ValueError(f"{need!r} should be `connector.field`, e.g. accounting.account_id")
        return value

    @field_validator("identity")
    @classmethod
    def _identity_keys(cls, value: dict[str, str]) -> dict[str, str]:
        """Only ``id`` and ``name`` mean anything on a card: a misspelt key would leave it nameless."""
        for key in value:
            if key not in IDENTITY_KEYS:
                close = difflib.get_close_matches(key, IDENTITY_KEYS, n=1)
                hint = f"did you mean `{close[0]}`? " if close else ""
                raise ValueError(
                    f"unknown key `{key}`; {hint}identity takes `id` and `name` "
                    "(the columns that say who the caller is)"
                )
        return value

    def kind_keys(self) -> dict[str, Any]:
        """The keys this block carries beyond the common ones: the kind's options."""
        return dict(self.model_extra or {})

    def needed_connectors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.split(".")[0] for n in self.needs))

    @property
    def title(self) -> str:
        if self.display and self.display.title:
            return self.display.title
        return self.name.replace("_", " ").title()


class SinkSettings(BaseModel):
    """Keys every sink has; the kind's own keys (``url``, ``statement``, ``headers`` …) are its Options'."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    name: Name
    kind: str = Field(min_length=1)
    options: Any = Field(None, exclude=True)

    def kind_keys(self) -> dict[str, Any]:
        """The keys this block carries beyond ``name`` and ``kind``: the kind's options."""
        return dict(self.model_extra or {})


class RetentionSettings(Frozen):
    """Days screenpop keeps its own data; 0 (or the key omitted) keeps it forever.

    Applied by the store's purge (``store.retention``) at start and hourly.
    """

    calls_days: int = Field(0, ge=0, le=100_000)
    notes_days: int = Field(0, ge=0, le=100_000)
    audit_days: int = Field(0, ge=0, le=100_000)


class Settings(Frozen):
    server: ServerSettings = ServerSettings()
    numbers: NumbersSettings = NumbersSettings()
    store: StoreSettings = StoreSettings()
    broker: BrokerSettings = BrokerSettings()
    agents: AgentsSettings
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    routing: RoutingSettings = RoutingSettings()
    providers: tuple[ProviderSettings, ...] = ()
    card: CardSettings = CardSettings()
    lines: tuple[LineSettings, ...] = ()
    connectors: tuple[ConnectorSettings, ...] = ()
    sinks: tuple[SinkSettings, ...] = ()
    retention: RetentionSettings = RetentionSettings()
    source: str = Field("<settings>", exclude=True)

    def connector(self, name: str) -> ConnectorSettings:
        return next(c for c in self.connectors if c.name == name)

    def provider(self, name: str) -> ProviderSettings | None:
        return next((p for p in self.providers if p.name == name), None)

    def line(self, e164: str | None) -> LineSettings | None:
        """The configured line with this E.164 number, if any."""
        return made_for(self.lines, _lines_by_number).get(e164) if e164 else None

    def agent(self, agent_id: str) -> AgentEntry | None:
        return self.agents.entry(agent_id)

    def distinct_hidden_sets(self) -> tuple[frozenset[str], ...]:
        """Every distinct set of sections some role hides (one empty set without roles), made once.

        A card version is rendered once for each, so every version of every
        card asks.
        """
        return made_for(self.roles, _distinct_hidden_sets)

    def hidden_sections(self, role: str) -> frozenset[str]:
        rules = self.roles.get(role)
        return frozenset(rules.hide) if rules else frozenset()

    def role_may(self, role: str, permission: Literal["admin", "lookup"]) -> bool:
        """Whether ``role`` may use the admin (or lookup) endpoints: its entry, else its name."""
        rules = self.roles.get(role)
        given = getattr(rules, permission) if rules else None
        return role == SUPERVISOR_ROLE if given is None else bool(given)


def check_database_url(value: str) -> str:
    """Refuse a URL SQLAlchemy cannot parse or that names a synchronous driver."""
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        # not `from exc`, and not the value: both would quote a password
        raise ValueError("this is not a database URL (e.g. sqlite+aiosqlite:///x.db)") from None
    if "+" not in url.drivername:
        raise ValueError(
            f"{url.drivername!r} needs an async driver, e.g. "
            "sqlite+aiosqlite://, postgresql+asyncpg://, mysql+aiomysql://"
        )
    return value


def _refuse_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} appears twice")
        seen.add(name)


_Source = TypeVar("_Source")
_Made = TypeVar("_Made")
_MADE_LIMIT = 64
_made: dict[tuple[int, object], tuple[object, object]] = {}


def made_for(source: _Source, build: Callable[[_Source], _Made]) -> _Made:
    """``build(source)``, made once per ``source`` object: an index of part of a config.

    Every call routes through the directory, finds its line and renders a
    card for each set of hidden sections; a contact center's directory holds
    thousands of agents, its lines hundreds of numbers.  A config is
    immutable, so what is made from one of its parts holds as long as that
    part (the same object) does; a copy with another part gets its own.  The
    entry keeps ``source``, so its ``id`` cannot be reused while it stands.
    """
    key = (id(source), build)
    kept = _made.get(key)
    if kept is not None and kept[0] is source:
        return kept[1]  # type: ignore[return-value]
    if len(_made) >= _MADE_LIMIT:  # configs replaced by reloads: their parts are let go
        _made.clear()
    made = build(source)
    _made[key] = (source, made)
    return made


def _lines_by_number(lines: tuple[LineSettings, ...]) -> dict[str, LineSettings]:
    by_number: dict[str, LineSettings] = {}
    for line in lines:
        by_number.setdefault(line.number, line)
    return by_number


def _distinct_hidden_sets(roles: dict[str, RoleSettings]) -> tuple[frozenset[str], ...]:
    sets = tuple(dict.fromkeys(frozenset(rules.hide) for rules in roles.values()))
    return sets or (frozenset(),)
