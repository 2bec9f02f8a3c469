"""The config file: validation, ${VAR} substitution, one-sentence errors, documented keys."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from screenpop.cli.check import queue_rows
from screenpop.config import Settings, load_settings, settings_from_mapping
from screenpop.config.cross_checks import unserved_queues
from screenpop.config.envsubst import substitute_env
from screenpop.config.exposure import log_config_warnings
from screenpop.errors import ConfigError
from screenpop.plugins import known_kinds, known_sink_kinds, load_kind, load_sink_kind

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
EXAMPLE = CONFIG_DIR / "screenpop.example.yaml"
SECRET = "s" * 32


def minimal(**extra: Any) -> dict[str, Any]:
    return {"agents": {"token_secret": SECRET, "directory": [{"id": "a1"}]}, **extra}


def sql_connector(name: str = "accounting", **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "sql", "url": "sqlite+aiosqlite:///x.db", "query": "SELECT 1", **extra}


def config_error(raw: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(raw, source="test.yaml", environ=environ or {})
    return str(caught.value)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    """Every file in config/ passes the real validator (with its ${VAR:-default}s)."""
    needed = {"SCREENPOP_AGENT_SECRET": "x" * 32, "PBX_WEBHOOK_SECRET": "pbx-secret"}
    settings = load_settings(path, environ=needed)
    assert settings.agents.token_secret


def test_typo_in_key_names_path_and_suggests() -> None:
    """A misspelt key is refused with its key path and the closest known key."""
    message = config_error(minimal(connectors=[sql_connector(timeout_msec=5)]))
    assert message.startswith("test.yaml: connectors[0] (accounting).")
    assert "timeout_msec" in message
    assert "timeout_ms" in message


def test_typo_in_common_block_suggests() -> None:
    """A typo in a fixed block lists the keys allowed there."""
    message = config_error(minimal(server={"prot": 80}))
    assert "server.prot" in message and "`port`" in message


def test_missing_variable_is_named() -> None:
    """A ${VAR} that is not set names the variable and where it is used."""
    message = config_error(minimal(store={"url": "${STORE_URL}"}))
    assert "STORE_URL" in message and "store.url" in message


def test_variable_default_and_value() -> None:
    """${VAR:-default} gives the default, and a set variable wins over it."""
    raw = minimal(server={"port": "${PORT:-9090}"})
    assert settings_from_mapping(raw, environ={}).server.port == 9090
    assert settings_from_mapping(raw, environ={"PORT": "7070"}).server.port == 7070


@pytest.mark.parametrize(
    "form", ["${PORT-9090}", "${PORT=9090}", "${PORT?}", "${PORT+9090}", "${PORT?x}", "${A:-1}${PORT-9090}"]
)
def test_a_shell_only_variable_form_is_refused_naming_the_one_to_write(form: str) -> None:
    """Left as it was, ``${PORT-9090}`` was literal text: a port, a URL or a secret nobody meant."""
    message = config_error(minimal(server={"port": form}))
    assert "server.port" in message and "${PORT:-default}" in message and "shell form" in message


def test_a_rules_format_field_is_not_taken_for_a_shell_form() -> None:
    """``${overdue:+,.2f}`` and ``${rate:=^8}`` are fields of a rule's ``say``, left for the rules."""
    for text in ("Overdue ${overdue:+,.2f}", "Rate ${rate:=^8}", "Ask ${accounting_overdue_amount:,.2f}"):
        assert substitute_env(text, {}, "test.yaml") == text


def test_bad_database_url_names_key() -> None:
    """A sync or unparsable database URL is refused at connectors[i].url with a hint."""
    message = config_error(minimal(connectors=[sql_connector(url="postgresql://db/x")]))
    assert "connectors[0] (accounting).url" in message and "+asyncpg" in message
    message = config_error(minimal(store={"url": "not a url"}))
    assert "store.url" in message


def test_unknown_kind_lists_known_kinds() -> None:
    """An unknown connector kind names the kinds that are installed."""
    message = config_error(minimal(connectors=[{"name": "x", "kind": "oracle_magic"}]))
    assert "oracle_magic" in message and "sql" in message and "http" in message


def sql_sink(name: str = "crm_log", **extra: Any) -> dict[str, Any]:
    statement = "INSERT INTO log (call_id, notes) VALUES (:call_id, :notes)"
    return {"name": name, "kind": "sql", "url": "sqlite+aiosqlite:///log.db", "statement": statement, **extra}


def test_sinks_are_checked_by_their_kinds_options() -> None:
    """A valid sql and http sink load with their kinds' options; header secrets come from ${ENV}."""
    raw = minimal(
        sinks=[
            sql_sink(),
            {"name": "hook", "kind": "http", "url": "https://crm.example/log", "headers": {"X": "${TOK}"}},
        ]
    )
    settings = settings_from_mapping(raw, environ={"TOK": "t0ken"})
    assert [s.name for s in settings.sinks] == ["crm_log", "hook"]
    assert settings.sinks[1].options.headers == {"X": "t0ken"}
    assert settings.sinks[0].options.timeout_s == 10.0


@pytest.mark.parametrize(
    ("sinks", "needles"),
    [
        (
            [sql_sink(statement="INSERT INTO log VALUES (:caller_name)")],
            ["sinks[0] (crm_log).statement", ":caller_name"],
        ),
        ([sql_sink(), sql_sink()], ["sinks[1] (crm_log).name", "twice"]),
        ([sql_sink(url="postgresql://db/x")], ["sinks[0] (crm_log).url", "+asyncpg"]),
        ([{"name": "x", "kind": "carrier_pigeon"}], ["sinks[0] (x).kind", "carrier_pigeon", "http", "sql"]),
        ([{"name": "x", "kind": "http", "url": "ftp://x"}], ["sinks[0] (x).url"]),
        ([sql_sink(querry="x")], ["sinks[0] (crm_log).querry", "statement"]),
        ([sql_sink(timout_s=3)], ["sinks[0] (crm_log).timout_s", "did you mean `timeout_s`"]),
    ],
)
def test_bad_sinks_are_refused_naming_the_key(sinks: list[dict[str, Any]], needles: list[str]) -> None:
    """A statement binding what no note has, a duplicate name, a sync URL, an unknown kind or key: refused."""
    message = config_error(minimal(sinks=sinks))
    assert all(n in message for n in needles), message


def test_needs_cycle_is_refused() -> None:
    """Two connectors that need each other are a config error naming the cycle."""
    raw = minimal(
        connectors=[
            sql_connector("a", needs=["b.id"]),
            sql_connector("b", needs=["a.id"]),
        ]
    )
    assert "cycle" in config_error(raw)


def test_needs_unknown_connector_is_refused() -> None:
    """A `needs` naming a connector that does not exist is refused with the known names."""
    message = config_error(minimal(connectors=[sql_connector("a", needs=["nope.id"])]))
    assert "nope" in message and "connectors[0] (a).needs" in message


def test_role_hiding_unknown_section_is_refused() -> None:
    """A misspelt hidden section would leak data, so it is an error."""
    raw = minimal(connectors=[sql_connector("credit")], roles={"tier1": {"hide": ["credits"]}})
    raw["agents"]["directory"] = [{"id": "a1", "role": "tier1"}]
    assert "credits" in config_error(raw)


def test_agent_role_must_be_defined() -> None:
    """An agent whose role is not under roles: is refused (a typo must not show hidden data)."""
    raw = minimal(roles={"tier1": {"hide": []}})
    raw["agents"]["directory"] = [{"id": "a1", "role": "tire1"}]
    assert "tire1" in config_error(raw)


def test_provider_missing_secret_is_refused() -> None:
    """A provider without the key its kind needs says which key."""
    message = config_error(minimal(providers=[{"name": "pbx", "kind": "generic"}]))
    assert "providers[0]" in message and "secret" in message


def _model_keys(model: type[BaseModel], prefix: str) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = field.alias or name
        keys.add(f"{prefix}{key}")
        inner = _inner_model(field.annotation)
        if inner is not None and inner is not BaseModel:
            list_like = "tuple" in str(field.annotation) or "list" in str(field.annotation)
            mapping = "dict" in str(field.annotation)
            child = f"{prefix}{key}" + ("[]" if list_like else ".*" if mapping else "") + "."
            keys |= _model_keys(inner, child)
    return keys


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _yaml_keys(value: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            keys.add(f"{prefix}{key}")
            keys |= _yaml_keys(item, f"{prefix}{key}.")
            keys |= {
                re.sub(rf"^{re.escape(prefix)}{re.escape(str(key))}\.", f"{prefix}*.", k)
                for k in _yaml_keys(item, f"{prefix}{key}.")
            }
    elif isinstance(value, list):
        for item in value:
            keys |= _yaml_keys(item, prefix.rstrip(".") + "[].")
    return keys


def documented_keys() -> set[str]:
    return _yaml_keys(yaml.safe_load(EXAMPLE.read_text()))


def test_every_setting_is_documented_in_the_example() -> None:
    """Each key screenpop accepts, connector and sink kinds' own keys included, appears in the example."""
    wanted = _model_keys(Settings, "")
    for kind in known_kinds():
        wanted |= _model_keys(load_kind(kind, "test").Options, "connectors[].")
    for kind in known_sink_kinds():
        wanted |= _model_keys(load_sink_kind(kind, "test").Options, "sinks[].")
    wanted = {k for k in wanted if ".*." not in k or not k.startswith("roles")}
    missing = sorted(k for k in wanted if k not in documented_keys() and not _matches_map(k))
    assert missing == []


def _matches_map(key: str) -> bool:
    """Keys under a free mapping (roles.<name>.hide, fields.<name>.label) match any name."""
    pattern = re.escape(key).replace(r"\.\*\.", r"\.[^.\[]+\.")
    return any(re.fullmatch(pattern, k) for k in documented_keys())


def test_every_key_line_of_the_example_has_a_comment() -> None:
    """The first line naming each key explains it, so IT staff need no other document."""
    seen: set[str] = set()
    undocumented = []
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^\s*(?:- )?([a-z_]+):(?:\s|$)", line)
        if match and match.group(1) not in seen:
            seen.add(match.group(1))
            if "#" not in line:
                undocumented.append(match.group(1))
    assert undocumented == []


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenpop", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("server: {prot: 1}\n", "server.prot"),
        ("connectors: [{name: a, kind: sql, url: '${NO_SUCH_VAR_X}', query: q}]\n", "NO_SUCH_VAR_X"),
        ("connectors: [{name: a, kind: sql, url: 'mysql://x', query: q}]\n", "connectors[0] (a).url"),
        ("connectors: [{name: a, kind: nosuchkind}]\n", "nosuchkind"),
        ("server: [\n", "not valid YAML"),
    ],
)
def test_cli_config_errors_are_one_sentence_exit_2(tmp_path: Path, body: str, needle: str) -> None:
    """A broken config makes every command exit 2 with one line on stderr and no traceback."""
    config = tmp_path / "bad.yaml"
    config.write_text(f"agents: {{token_secret: {SECRET}}}\n" + body)
    result = _cli("lookup", "+14155550132", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_driver_names_the_package() -> None:
    """A database URL whose driver is not installed is refused with the package to install."""
    message = config_error(minimal(connectors=[sql_connector(url="mssql+aioodbc://u:pw@dsn")]))
    assert "connectors[0] (accounting).url" in message
    assert "pip install aioodbc" in message
    assert "pw" not in message.replace("pip", "")


def test_the_example_shares_one_database_url_through_an_x_anchor() -> None:
    """The example writes the sales URL once (an `x-` anchor) and both connectors that use it get it."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    anchors = [key for key in raw if key.startswith("x-")]
    assert anchors and "*sales_db" in EXAMPLE.read_text()
    url = "sqlite+aiosqlite:///shared-by-anchor.db"
    needed = {"SCREENPOP_AGENT_SECRET": "x" * 32, "PBX_WEBHOOK_SECRET": "pbx-secret", "SALES_DB_URL": url}
    settings = load_settings(EXAMPLE, environ=needed)
    sharing = [c.name for c in settings.connectors if c.kind_keys().get("url") == url]
    assert sharing == ["sales", "insight"]


def test_an_unclosed_flow_mapping_says_where_it_opened(tmp_path: Path) -> None:
    """A `{` never closed is named where it opened, not only where the parser gave up."""
    body = f"agents: {{token_secret: {SECRET}\nserver: {{port: 1}}\n"
    path = tmp_path / "open.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    column = body.index("{") + 1
    assert f"the flow mapping `{{` opened at line 1, column {column}" in str(caught.value)
    assert "closing `}` missing" in str(caught.value)


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("http://agents.example/", "http://agents.example"),
        ("HTTPS://CRM.Example.com:443", "https://crm.example.com"),
        ("http://localhost:80/", "http://localhost"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_allowed_origins_are_kept_as_browsers_send_them(written: str, kept: str) -> None:
    """An origin with a trailing slash, capitals or its default port is kept as a browser sends it."""
    raw = minimal(server={"allowed_origins": [written]})
    assert settings_from_mapping(raw, environ={}).server.allowed_origins == (kept,)


@pytest.mark.parametrize(
    "written",
    [
        "https://crm.example.com/agents/",
        "crm.example.com",
        "*",
        "https://u:p@crm.example.com",
    ],
)
def test_allowed_origin_no_browser_can_send_is_refused(written: str) -> None:
    """An origin no browser sends (a page URL, a bare host, `*`) is a config error at its index, not 4403."""
    message = config_error(minimal(server={"allowed_origins": ["http://ok.example", written]}))
    assert message.startswith("test.yaml: server.allowed_origins[1]: ")
    assert "scheme://host[:port]" in message


@pytest.mark.parametrize(
    ("dispositions", "needle"),
    [([], "omit"), (["resolved", "resolved"], "twice"), (["resolved", "  "], "blank")],
)
def test_dispositions_no_note_could_use_are_refused(dispositions: list[str], needle: str) -> None:
    """`card.dispositions: []` (no note could be saved), a repeated or a blank choice is a config error."""
    message = config_error(minimal(card={"dispositions": dispositions}))
    assert message.startswith("test.yaml: card.dispositions") and needle in message


def test_a_line_number_given_twice_is_refused() -> None:
    """Two `lines` with one number (the second's name and queue never used) is a config error naming both."""
    lines = [
        {"number": "+18005550100", "name": "Acme Support", "queue": "support"},
        {"number": "+18005550100", "name": "Acme Sales", "queue": "sales"},
    ]
    message = config_error(minimal(lines=lines))
    assert message.startswith("test.yaml: lines[1] (Acme Sales).number: ")
    assert "lines[0] (Acme Support)" in message


@pytest.mark.parametrize(
    "source",
    [
        sql_connector("sales", rows="many", identity={"id": "customer_id"}),
        {"name": "sales", "kind": "http", "url": "http://crm.example/c?p={e164}", "items": "$.rows"},
    ],
    ids=["sql rows many", "http items"],
)
def test_needs_on_a_connector_that_answers_a_list_is_refused(source: dict[str, Any]) -> None:
    """A `needs` on a connector whose data is `{"items": [...]}` never binds, so it is refused at load."""
    needing = sql_connector("insight", needs=["sales.customer_id"], query="SELECT :sales_customer_id")
    message = config_error(minimal(connectors=[source, needing]))
    assert message.startswith("test.yaml: connectors[1] (insight).needs: ")
    assert "sales.customer_id" in message and "items" in message


def test_a_line_queue_no_agent_is_in_is_named() -> None:
    """A line whose queue no agent in the directory serves (a typo) would ring nobody: named, with a hint.

    A warning (``check``, the start-up log), not an error: a queue staffed
    later, or a config copied from the SPEC before its agents are listed,
    still loads.
    """
    directory = [{"id": "a1", "queues": ["support", "sales"]}]
    raw = minimal(lines=[{"number": "+18005550100", "name": "Acme", "queue": "suport"}])
    raw["agents"]["directory"] = directory
    [sentence] = unserved_queues(settings_from_mapping(raw, environ={}))
    assert sentence.startswith("lines[0] (Acme).queue: ") and "did you mean 'support'" in sentence
    raw["lines"][0]["queue"] = "support"
    assert unserved_queues(settings_from_mapping(raw, environ={})) == []


def test_a_written_unrouted_queue_no_agent_is_in_is_named() -> None:
    """A written `routing.unrouted: queue:X` that no agent serves is named; the unwritten default is not."""
    [sentence] = unserved_queues(
        settings_from_mapping(minimal(routing={"unrouted": "queue:billing"}), environ={})
    )
    assert sentence.startswith("routing.unrouted: ")
    assert unserved_queues(settings_from_mapping(minimal(), environ={})) == []


def test_an_unserved_queue_is_a_check_warning_and_a_logged_one(caplog: pytest.LogCaptureFixture) -> None:
    """`check` shows it as a `warn` row that does not fail; serving logs it once."""
    billing = settings_from_mapping(minimal(routing={"unrouted": "queue:billing"}), environ={})
    rows = queue_rows(billing)
    assert [(r.part, r.ok, r.warning) for r in rows] == [("routing", True, True)]
    with caplog.at_level(logging.WARNING, logger="screenpop.config.exposure"):
        log_config_warnings(billing)
    assert [r.getMessage() for r in caplog.records] == [f"routing: {rows[0].detail}"]


def test_cache_stale_s_that_could_never_apply_is_refused() -> None:
    """`cache_stale_s` without a `cache_ttl_s`, or on a `rules` connector, is refused rather than ignored."""
    message = config_error(minimal(connectors=[sql_connector(cache_stale_s=60)]))
    assert (
        message.startswith("test.yaml: connectors[0] (accounting).cache_stale_s: ")
        and "cache_ttl_s" in message
    )
    rules = {"name": "offer", "kind": "rules", "rules": [{"then": {"terms": "Net 30"}}], "cache_stale_s": 30}
    assert config_error(minimal(connectors=[rules])).startswith(
        "test.yaml: connectors[0] (offer).cache_stale_s: "
    )
    kept = settings_from_mapping(
        minimal(connectors=[sql_connector(cache_ttl_s=30, cache_stale_s=60)]), environ={}
    )
    assert kept.connectors[0].cache_stale_s == 60


@pytest.mark.parametrize("name", ["attr_AccountNo", "attr_" + "a" * 41, "attr_1st"])
def test_an_attribute_no_call_can_carry_is_refused(name: str) -> None:
    """`:attr_AccountNo` can never be bound (keys match [a-z][a-z0-9_]{0,39}), so it is refused at load."""
    message = config_error(minimal(connectors=[sql_connector(query=f"SELECT 1 WHERE 1 = :{name}")]))
    assert (
        message.startswith("test.yaml: connectors[0] (accounting).query: ")
        and "[a-z][a-z0-9_]{0,39}" in message
    )
    rules = {"name": "offer", "kind": "rules", "rules": [{"when": {name: {"equals": "x"}}, "then": {"a": 1}}]}
    assert name in config_error(minimal(connectors=[rules]))
