"""Read one config file: YAML -> ${ENV} -> validated blocks -> cross-checked Settings.

Everything that can be wrong in a config is found here, at start-up, and
said in one sentence that names the file, the key path and a fix: a typo
must never pass silently and surface as a missing card at 3 a.m.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from screenpop.config.cross_checks import cross_check
from screenpop.config.envsubst import substitute_env, unset_variables
from screenpop.config.errors import describe_validation_error, most_telling
from screenpop.config.schema import Settings
from screenpop.errors import ConfigError

EXTENSION_PREFIX = "x-"  # top-level keys screenpop ignores: a place for YAML anchors
REQUIRED_BLOCKS = frozenset({"agents"})  # Settings cannot be built without them
MAX_DEPTH = 100
"""How deeply lists and mappings may nest: a config needs under ten levels; PyYAML recurses per level."""
MAX_ALIAS_EXPANSION = 100_000
"""Values aliases may add to a config once expanded: anchors reused by hand never come near it.

Aliases nested in aliases multiply: nine levels of nine (a "billion laughs")
are 387 million values that every walk over the config (``${ENV}``
substitution, validation) copies, and seven levels already took 6 s and 180 MB.
"""
_ITEM_LABEL = r"(?: \([^)]*\))?"  # `` (pbx)`` after a list index in a key path


class StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load``, but a key given twice in one mapping is an error.

    PyYAML keeps the last of two equal keys without a word: a copied block
    with two ``query:`` lines would run the one the reader did not look at.
    A key after ``<<: *anchor`` still overrides the anchor's (YAML's merge).
    An alias inside the node its anchor names (``&a [*a]``) is an error too:
    PyYAML builds a list that holds itself, and every walk over the config
    (``${ENV}`` substitution first) died of a RecursionError, a traceback
    from ``check`` and ``serve`` and a 500 from ``/api/admin/reload``.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_anchors: set[str] = set()
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """The node at hand, refused when nested beyond ``MAX_DEPTH``.

        PyYAML composes by recursion: ``[[[[…]]]]`` 900 levels deep was a
        RecursionError, a traceback from ``check`` and a 500 from
        ``/api/admin/reload``.
        """
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                problem = f"lists and mappings nest more than {MAX_DEPTH} levels deep"
                raise yaml.composer.ComposerError(None, None, problem, _mark(event))
            return self._compose_checked(parent, index)
        finally:
            self._depth -= 1

    def _compose_checked(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                problem = f"the alias *{event.anchor} is inside the node it names (a loop)"
                raise yaml.composer.ComposerError(None, None, problem, _mark(event))
            return super().compose_node(parent, index)
        anchor: str | None = event.anchor
        if anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def compose_document(self) -> yaml.Node | None:
        node: yaml.Node | None = super().compose_document()
        if node is not None:
            added = _expanded_size(node, {}) - _distinct_nodes(node)
            if added > MAX_ALIAS_EXPANSION:
                problem = (
                    f"aliases expand to {added:,} more values, over the limit of {MAX_ALIAS_EXPANSION:,}"
                    " (aliases of aliases multiply: write the repeated part once)"
                )
                raise yaml.composer.ComposerError(None, None, problem, None)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_scalar(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key `{key}` is given twice (first at line {seen[key]})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


def _mark(event: Any) -> yaml.error.Mark | None:
    mark = getattr(event, "start_mark", None)
    return mark if isinstance(mark, yaml.error.Mark) else None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` holds once every alias is copied out (each shared node counted once)."""
    if id(node) not in sizes:
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in _children(node))
    return sizes[id(node)]


def _distinct_nodes(root: yaml.Node) -> int:
    """How many nodes the file itself writes: each anchored node once, however many aliases name it."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) not in seen:
            seen.add(id(node))
            todo += _children(node)
    return len(seen)


def load_settings(
    path: str | Path, environ: Mapping[str, str] | None = None, uses: Collection[str] | None = None
) -> Settings:
    """Read, substitute, validate and cross-check one config file (``uses``: see below)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file (pass --config or set SCREENPOP_CONFIG)") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a directory, no permission, a binary file
        reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"{path}: the config file cannot be read ({reason})") from exc
    try:
        raw = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc, text)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file should hold a mapping of sections (server:, connectors:, …)")
    return settings_from_mapping(raw, source=str(path), environ=environ or os.environ, uses=uses)


def settings_from_mapping(
    raw: Mapping[str, Any],
    source: str = "<settings>",
    environ: Mapping[str, str] | None = None,
    uses: Collection[str] | None = None,
) -> Settings:
    """Validate an already-parsed config (tests and embedders build configs in code).

    ``uses`` are the key paths a command reads (``providers``,
    ``agents.directory``); None is all of them.  A variable that is unset in a
    part the command never reads is not an error: a top-level block holding
    one is left out (its defaults apply), and a key inside a block it reads
    gets a random value nobody knows.  Everything present is still validated.
    """
    env = environ if environ is not None else os.environ
    config = without_extensions(raw)
    dropped: frozenset[str] = frozenset()
    unused = None
    if uses is not None:
        config, dropped = _without_unread_blocks(config, uses, env)
        unused = functools.partial(_unread, tuple(_use_pattern(use) for use in uses))
    data = substitute_env(config, env, source, unused=unused)
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        message = describe_validation_error(exc, source, Settings, data)
        raise ConfigError(message + _extension_hint(exc)) from exc
    return cross_check(settings, dropped)


def _extension_hint(exc: ValidationError) -> str:
    """An unknown top-level key may be meant to hold anchors: say which keys may."""
    error = most_telling(exc.errors(include_url=False))
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        return f" (a top-level key that only holds YAML anchors must start with `{EXTENSION_PREFIX}`)"
    return ""


def _use_pattern(use: str) -> re.Pattern[str]:
    """``providers[*].kind`` -> what it covers: ``providers[0] (pbx).kind`` and anything below it.

    ``[*]`` is every item of a list, ``[2]`` one item; the ``(name)`` label of
    an item may follow its index in a key path.
    """
    pattern = ""
    for part in re.split(r"(\[\*\]|\[\d+\])", use):
        if part == "[*]":
            pattern += r"\[\d+\]" + _ITEM_LABEL
        elif part.startswith("["):
            pattern += re.escape(part) + _ITEM_LABEL
        else:
            pattern += re.escape(part)
    return re.compile(rf"{pattern}(?:$|[.\[])")


def _unread(uses: tuple[re.Pattern[str], ...], path: str) -> bool:
    """Whether no path in ``uses`` covers ``path`` (``providers`` covers ``providers[0] (pbx).secret``)."""
    return not any(use.match(path) for use in uses)


def _without_unread_blocks(
    config: dict[str, Any], uses: Collection[str], environ: Mapping[str, str]
) -> tuple[dict[str, Any], frozenset[str]]:
    """Leave out each top-level block no ``uses`` path reaches that names an unset variable."""
    read = {use.split(".")[0].split("[")[0] for use in uses} | REQUIRED_BLOCKS
    dropped = frozenset(
        key for key, value in config.items() if key not in read and unset_variables(value, environ)
    )
    return {k: v for k, v in config.items() if k not in dropped}, dropped


def without_extensions(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The config without its top-level ``x-…`` keys: a place for YAML anchors.

    One database URL used by four connectors is written once
    (``x-db: &db ${DB_URL}``) and referred to (``url: *db``); the YAML parser
    has already copied it to each ``*db``, so the ``x-`` key itself is dropped
    before validation (as Docker Compose does) and never needs its variables.
    """
    return {k: v for k, v in raw.items() if not (isinstance(k, str) and k.startswith(EXTENSION_PREFIX))}


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    said = f"{problem} at line {mark.line + 1}" if mark else problem
    return said + _flow_hint(exc, text)


def _flow_hint(exc: yaml.YAMLError, text: str) -> str:
    """Where a ``{…}``/``[…]`` opened, and the `` #`` that most likely cut it short.

    In YAML `` #`` starts a comment even inside ``{title: Account #1}``, so the
    rest of that line vanishes and the parser complains lines later; the line
    it names is not where the mistake is.
    """
    context, opened = getattr(exc, "context", None) or "", getattr(exc, "context_mark", None)
    if "flow" not in context or opened is None:
        return ""
    kind = "mapping `{`" if "mapping" in context else "sequence `[`"
    hint = f"; the flow {kind} opened at line {opened.line + 1}, column {opened.column + 1}"
    lines = text.splitlines()
    end = getattr(getattr(exc, "problem_mark", None), "line", opened.line)
    for number in range(opened.line, min(end + 1, len(lines))):
        start = opened.column if number == opened.line else 0
        found = _comment_start(lines[number], start)
        if found is not None:
            return (
                f"{hint}, and the `#` at line {number + 1}, column {found + 1} starts a comment "
                'that hides the rest of that line: quote the value ("…#…")'
            )
    closing = "}" if "mapping" in context else "]"
    return f"{hint}: is its closing `{closing}` missing, or a value holding `,` or `: ` unquoted?"


def _comment_start(line: str, start: int) -> int | None:
    """The column of the first `#` after whitespace outside quotes, from ``start`` on."""
    quote: str | None = None
    for column in range(start, len(line)):
        char = line[column]
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and column > 0 and line[column - 1] in " \t":
            return column
    return None
