"""The ``rules`` connector kind: the decision table of SPEC section 3.

Rules are checked in order; the first whose every ``when`` condition holds
gives the section's data, its ``then`` object plus ``"rule": N`` (1-based).
Conditions are those of badges (``screenpop.conditions``, the same code).  In
a ``then`` string ``{param}`` is replaced by the bound parameter; a string
that is exactly one ``{param}`` keeps the parameter's type.  A number inside a
sentence may carry a Python format spec, ``{param:,.2f}``, so that the agent
reads "1,204.50" rather than "1204.5" (a number alone is formatted by the
widget from the section's ``display`` config instead).  Nothing is read
from outside the call, so a lookup takes microseconds and is never cached
(``cacheable = False``: a ``cache_ttl_s`` is a config error).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from screenpop.conditions import holds, only_condition, yaml_boolean_among_texts
from screenpop.connector_api import (
    MASKED,
    ConnectorContext,
    ConnectorOptions,
    LookupResult,
    current_trace,
    shown_params,
)
from screenpop.model import is_call_parameter

SECRET_PARAMETER = "attr_secret_"  # noqa: S105 - the prefix of a secret attribute's parameter, not a secret
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")


class Rule(BaseModel):
    """One row of the table: conditions on bound parameters (none: always holds) and the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    when: dict[str, dict[str, Any]] = Field(default_factory=dict)
    then: dict[str, Any] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _conditions(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for key, condition in value.items():
            try:
                kind, expected = only_condition(condition)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            if kind in ("above", "below") and not _is_number(expected):
                raise ValueError(f"{key}: `{kind}` takes a number")
            if kind == "in" and (not isinstance(expected, list) or not expected):
                raise ValueError(f"{key}: `in` takes a non-empty list")
            if kind == "equals" and not isinstance(expected, bool | int | float | str):
                raise ValueError(f"{key}: `equals` takes a number, a boolean or a text")
            _no_boolean_for_text(key, kind, expected)
        return value

    @field_validator("then")
    @classmethod
    def _then_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "rule" in value:
            raise ValueError("`rule` is the number of the rule that held; it cannot be set in `then`")
        for key, item in value.items():
            if not isinstance(item, bool | int | float | str):
                raise ValueError(f"{key}: a `then` value is a number, a boolean or a text")
            if isinstance(item, str):
                _check_format_specs(key, item)
                _no_secret_shown(key, item)
        return value


class RulesOptions(ConnectorOptions):
    """Keys of a ``kind: rules`` connector (SPEC section 3)."""

    rules: tuple[Rule, ...] = Field(min_length=1)

    def needs_its_attributes(self) -> bool:
        """A rule over an attribute the call lacks simply does not hold: the table still runs."""
        return False

    def parameters(self) -> Iterator[tuple[tuple[int | str, ...], str]]:
        """Every parameter a `when` key or a `then` template names."""
        for index, rule in enumerate(self.rules):
            for key in rule.when:
                yield ("rules", index, "when", key), key
            for key, value in rule.then.items():
                if isinstance(value, str):
                    for name, _spec in PLACEHOLDER.findall(value):
                        yield ("rules", index, "then", key), name


def _no_boolean_for_text(key: str, kind: str, expected: Any) -> None:
    """A boolean against a parameter the call always binds as text is YAML's doing: refused at load.

    Unquoted, ``NO`` (Norway), ``ON``, ``yes`` and ``off`` are booleans in
    YAML, so ``region: {in: [NO, SE]}`` never held for a Norwegian caller.
    An ``attr_`` may be a boolean (SPEC 3), so it is not refused.
    """
    if kind == "in" and yaml_boolean_among_texts(expected):  # any key: a flag among texts is YAML's
        raise ValueError(
            f"{key}: `in` names a YAML boolean (an unquoted yes, no, on, off, true or false) "
            "among texts: quote it (e.g. 'NO' for Norway)"
        )
    if not is_call_parameter(key) or key.startswith("attr_"):
        return
    options = expected if kind == "in" and isinstance(expected, list) else [expected]
    if any(isinstance(option, bool) for option in options):
        raise ValueError(
            f"{key}: `{kind}` names a YAML boolean (an unquoted yes, no, on, off, true or false), "
            f"and {key} is always a text: quote it (e.g. 'NO' for Norway)"
        )


def _no_secret_shown(key: str, template: str) -> None:
    """A `secret_` attribute (an IVR's PIN) decides in `when`, but a `then` would put it on the card.

    The SPEC keeps secrets off cards, out of the broker, the store and logs;
    a rule's data goes to every recipient's card, so naming one there is refused.
    """
    for name, _spec in PLACEHOLDER.findall(template):
        if name.startswith(SECRET_PARAMETER):
            raise ValueError(
                f"{key}: {{{name}}} would show a secret attribute on the card; "
                "a secret may decide a rule in `when`, never be shown in `then`"
            )


def _check_format_specs(key: str, template: str) -> None:
    """A format spec that Python cannot apply to a number is refused when the config loads."""
    for match in PLACEHOLDER.finditer(template):
        spec = match.group(2)
        if spec is None:
            continue
        if PLACEHOLDER.fullmatch(template):
            raise ValueError(f"{key}: a lone {{param}} keeps its type; a format spec needs text around it")
        try:
            format(1234.5, spec)
        except ValueError:
            raise ValueError(f"{key}: {spec!r} is not a number format (try {{param:,.2f}})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class RulesConnector:
    """A decision table: no I/O, so ``start``, ``check`` and ``close`` have nothing to do."""

    Options: ClassVar[type[RulesOptions]] = RulesOptions
    cacheable: ClassVar[bool] = False

    def __init__(self, name: str, options: RulesOptions | Mapping[str, Any], context: ConnectorContext):
        self.name = name
        self.options = options if isinstance(options, RulesOptions) else RulesOptions.model_validate(options)
        self._table = tuple(
            (tuple((key, *only_condition(spec)) for key, spec in rule.when.items()), rule.then)
            for rule in self.options.rules
        )

    async def start(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        trace = current_trace()
        for number, (conditions, then) in enumerate(self._table, start=1):
            if all(holds(kind, expected, params.get(key)) for key, kind, expected in conditions):
                data = {key: render(value, params) for key, value in then.items()}
                data["rule"] = number
                if trace is not None:
                    trace.note(f"rule {number} holds" + _failed_before(number))
                return LookupResult(data=data, rows=1)
            if trace is not None:
                trace.step("rule", rule=number, failed=_failed(conditions, params)).answered(holds=False)
        if trace is not None:
            count = len(self._table)
            trace.note(f"no rule's conditions hold ({count} rule{'s' if count != 1 else ''} checked)")
        return LookupResult(data=None)


def _failed(conditions: tuple[tuple[str, str, Any], ...], params: Mapping[str, Any]) -> list[str]:
    """For a trace: each condition of a rule that does not hold, with the value it was given.

    A secret attribute's value, and the value it was compared with, are
    masked as in the bound parameters: the trace showed the caller's PIN.
    """
    shown = shown_params(params)
    return [
        f"{key} {kind} {MASKED if key.startswith(SECRET_PARAMETER) else repr(expected)}: "
        f"the call has {shown.get(key)!r}"
        for key, kind, expected in conditions
        if not holds(kind, expected, params.get(key))
    ]


def _failed_before(number: int) -> str:
    if number == 1:
        return ""
    return " (rule 1 did not)" if number == 2 else f" (rules 1 to {number - 1} did not)"


def render(value: Any, params: Mapping[str, Any]) -> Any:
    """A `then` value with its `{param}` templates filled; a lone `{param}` keeps the parameter's type.

    A parameter the call did not bind (an ``attr_`` the call lacks) is None
    for a lone template and an empty text inside a longer one.
    """
    if not isinstance(value, str):
        return value
    lone = PLACEHOLDER.fullmatch(value)
    if lone:
        return params.get(lone.group(1))
    return PLACEHOLDER.sub(lambda m: _text(params.get(m.group(1)), m.group(2)), value)


def _text(value: Any, spec: str | None = None) -> str:
    """A parameter as text; a number with a spec is formatted by it (anything else ignores the spec).

    A text that reads as a finite number (a legacy TEXT column holding
    "1204.5") is a number here as in the conditions, which already compare
    it as one: it read "$1204.5" where the same value from a NUMERIC column
    read "$1,204.50".
    """
    if value is None:
        return ""
    if spec and isinstance(value, str):
        value = _decimal(value) or value
    if spec and (_is_number(value) or isinstance(value, Decimal)):
        return format(value, spec)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decimal(text: str) -> Decimal | None:
    """The finite number a text reads as, exactly (no float rounding), or None."""
    try:
        number = Decimal(text.strip())  # reads what float() reads in the conditions, without its rounding
    except ArithmeticError:
        return None
    return number if number.is_finite() else None
