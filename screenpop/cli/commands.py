"""What each ``screenpop`` subcommand does; ``cli/__init__.py`` runs one and reports its errors.

The heavy parts (the web app, the store, the connectors, the demo generator)
are imported inside the commands that use them, so that ``screenpop token``
or ``--help`` starts in a fraction of the time: start-up cost, not a cycle
(``cli`` is the top layer; nothing imports it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from screenpop.auth import mint_token
from screenpop.card import render_card, section_specs
from screenpop.cli.ami_replay import checked_url, generic_provider, post_events
from screenpop.cli.arguments import phone_number
from screenpop.cli.output import LookupTimings, print_card_table, print_check_table
from screenpop.cli.parser import config_path
from screenpop.config import AgentEntry, Settings, browser_origin, load_settings
from screenpop.errors import ConfigError, ScreenpopError
from screenpop.model import Card
from screenpop.phone import parse_caller
from screenpop.routing import queue_members
from screenpop.untrusted import finite_values

#: The parts of the config each one-off command reads.  A variable unset
#: elsewhere does not stop it (`screenpop call` in a second terminal needs the
#: provider's secret, not SCREENPOP_AGENT_SECRET or the databases' URLs).
#: Commands not listed (serve, check, demo) read everything.
USES: dict[str, tuple[str, ...]] = {
    # which provider `call` signs as is known once the names are read: see cmd_call
    "call": (
        "server",
        "numbers",
        "providers[*].name",
        "providers[*].kind",
        "agents.directory",
        "roles",
        "routing",
    ),
    "token": ("agents", "roles"),
    "lookup": ("numbers", "card", "connectors", "roles", "lines", "agents.directory"),
    "audit": ("store", "numbers", "agents.directory", "roles"),
    "ami-replay": ("numbers", "providers", "agents.directory"),
}


def _settings(args: argparse.Namespace, *more: str) -> Settings:
    """The config as this command reads it; ``more`` adds key paths to the command's ``USES``."""
    uses = USES.get(args.command)
    return load_settings(config_path(args.config), uses=None if uses is None else (*uses, *more))


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _serve(settings, args.host or settings.server.host, args.port or settings.server.port)
    return 0


def _serve(
    settings: Settings, host: str, port: int, reload_from: Callable[[], Settings] | None = None
) -> None:
    """Serve until stopped; ``reload_from`` re-reads the config as this command did (SIGHUP, reload)."""
    from screenpop.app import create_app
    from screenpop.web import serve_forever

    serve_forever(
        create_app(settings, reload_from=reload_from),
        host,
        port,
        shutdown_timeout=settings.server.shutdown_grace_s,
        announce=lambda text: print(text, file=sys.stderr),
        event_loop=settings.server.event_loop,
    )


def cmd_demo_data(args: argparse.Namespace) -> int:
    from screenpop.demo import write_demo_databases

    summary = write_demo_databases(_demo_dir(args.dir), customers=args.customers)
    print(f"wrote {summary.accounts} accounts and {summary.sales_customers} sales customers to {args.dir}/")
    for label, number in summary.samples.items():
        print(f"  {number}  {label}")
    return 0


def demo_config_path() -> Path:
    """config/demo.yaml from the working directory, else from the checkout screenpop runs from."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "config" / "demo.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError("config/demo.yaml not found; run `screenpop demo` from the screenpop checkout")


def _demo_dir(given: str) -> Path:
    """``--dir``, refused in the user's words when empty or naming a file (mkdir would say "File exists").

    An empty ``--dir`` (an unset ``$VARIABLE``) was the current directory,
    reported as ``/``: the databases landed where nobody looked.
    """
    if not given.strip():
        raise ScreenpopError("--dir is empty: name the directory for the demo databases")
    directory = Path(given)
    if directory.exists() and not directory.is_dir():
        raise ScreenpopError(f"--dir {given} is a file, not a directory")
    return directory


def cmd_demo(args: argparse.Namespace) -> int:
    from screenpop.auth import mint_token
    from screenpop.demo import write_demo_databases

    directory = _demo_dir(args.dir).resolve()
    os.environ["SCREENPOP_DEMO_DIR"] = str(directory)
    summary = write_demo_databases(directory, overwrite=False)
    config = demo_config_path()
    settings = _on_port(load_settings(config), args.port)
    host = args.host or settings.server.host
    base = f"http://localhost:{args.port}"
    agent = _demo_agent(settings)
    token = mint_token(settings, agent.id)
    print(f"demo databases in {directory}" + (" (written now)" if summary.written else ""))
    print(f"\n  agent page ({agent.name or agent.id}): {base}/agent#token={token}\n")
    print(f"  agent token: {token}\n")
    admin = next((a for a in settings.agents.directory if settings.role_may(a.role, "admin")), None)
    if admin is not None:
        console = mint_token(settings, admin.id)
        print(f"  IT console ({admin.name or admin.id}, role {admin.role}): {base}/admin#token={console}\n")
    print("  make a demo customer ring (in another terminal):")
    print(
        f"    SCREENPOP_DEMO_DIR={directory} {_own_command()} call '{_national(summary.overdue_number)}' "
        f"--agent {agent.id} --url {base} --config {config}\n"
    )
    for label, number in summary.samples.items():
        print(f"    other callers: {number}  ({label})")
    sys.stdout.flush()
    _serve(settings, host, args.port, reload_from=lambda: _on_port(load_settings(config), args.port))
    return 0


def _on_port(settings: Settings, port: int) -> Settings:
    """The demo served on ``--port``: its agent page's origin must be allowed to open /ws."""
    origins = tuple(browser_origin(f"http://{host}:{port}") for host in ("localhost", "127.0.0.1"))
    server = settings.server.model_copy(
        update={
            "port": port,
            "public_url": f"http://localhost:{port}",
            "allowed_origins": tuple(dict.fromkeys((*settings.server.allowed_origins, *origins))),
        }
    )
    return settings.model_copy(update={"server": server})


def _own_command() -> str:
    """How to run this screenpop from another terminal (``make run`` does not put .venv on PATH)."""
    beside = Path(sys.executable).with_name("screenpop")
    if not beside.is_file():
        return "screenpop"
    relative = os.path.relpath(beside)
    return relative if not relative.startswith("..") else str(beside)


def _demo_agent(settings: Settings) -> AgentEntry:
    """The first agent whose role sees every section, so the demo shows the whole card."""
    for agent in settings.agents.directory:
        if not settings.hidden_sections(agent.role):
            return agent
    return settings.agents.directory[0]


def _national(e164: str) -> str:
    return parse_caller(e164, "US").national or e164


def cmd_token(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.agent(args.agent_id) is None:
        known = ", ".join(a.id for a in settings.agents.directory) or "none"
        raise ConfigError(
            f"no agent {args.agent_id!r} in agents.directory of {settings.source} (known: {known})"
        )
    if args.role and args.role not in settings.roles:
        defined = ", ".join(settings.roles) or "none"
        raise ConfigError(
            f"role {args.role!r} is not defined under `roles:` in {settings.source} (defined: {defined}); "
            "the service would refuse a token naming it"
        )
    print(mint_token(settings, args.agent_id, role=args.role, ttl_s=args.ttl))
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from screenpop.providers import make_provider

    # Read once without any provider's secrets to pick the provider, then
    # again with that one's: only its variables must be set.
    loose = _settings(args)
    index = loose.providers.index(_pick_provider(loose, args.provider))
    settings = _settings(args, f"providers[{index}]")
    provider = make_provider(settings.providers[index], settings.server)
    call_id = args.call_id or f"cli-{uuid.uuid4().hex[:10]}"
    request = provider.example_request(args.number, call_id, args.agent, args.queue, time.time())
    warning = _fallback_warning(settings, args.agent, args.queue)  # after any error: one sentence each
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    base = checked_url(args.url or f"http://{_client_host(settings.server.host)}:{settings.server.port}")
    status, body = asyncio.run(_post(base + request.path, request.body, dict(request.headers)))
    print(f"{status} {body.strip() or '(empty body)'}")
    print(f"call id: {call_id}", file=sys.stderr)
    return 0 if 200 <= status < 300 else 1


def _fallback_warning(settings: Settings, agent: str | None, queue: str | None) -> str | None:
    """Why the card will not pop where ``--agent``/``--queue`` say, in one sentence, or None.

    The service takes a call for an agent nobody configured (a phone system
    may send one) and rings the fallback; the person who typed the name
    expects that agent's card, and the 202 alone would not tell them.
    """
    if agent and settings.agent(agent) is None:
        known = ", ".join(a.id for a in settings.agents.directory) or "none"
        where = f"queue {queue!r}" if queue and queue_members(settings, queue) else "routing.unrouted"
        directory = f"agents.directory of {settings.source}"
        return f"agent {agent!r} is not in {directory} (known: {known}), so {where} rings instead"
    if queue and not agent and not queue_members(settings, queue):
        directory = f"agents.directory of {settings.source}"
        return f"queue {queue!r} has no member in {directory}, so routing.unrouted rings instead"
    return None


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a listen address, read


def _pick_provider(settings: Settings, name: str | None) -> Any:
    webhook_kinds = [p for p in settings.providers if p.kind != "asterisk_ami"]
    if name:
        found = settings.provider(name)
        if found is None:
            known = ", ".join(p.name for p in settings.providers) or "none"
            raise ConfigError(f"{settings.source}: providers: no provider named {name!r} (known: {known})")
        if found.kind == "asterisk_ami":
            raise ConfigError(f"{name!r} is an asterisk_ami link, not a webhook: use `screenpop ami-replay`")
        return found
    if not webhook_kinds:
        raise ConfigError(f"{settings.source}: providers: no webhook provider is configured")
    return webhook_kinds[0]


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as reply:
            return reply.status, await reply.text()
    except aiohttp.ClientError as exc:
        raise OSError(f"cannot reach {url}: {exc}") from exc


def cmd_lookup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    number = args.number if args.number is not None else args.number_option
    return asyncio.run(_lookup(settings, number, args.json, args.trace))


async def _lookup(settings: Settings, raw: str, as_json: bool, traced: bool = False) -> int:
    from screenpop.cli.bootstrap import open_engine
    from screenpop.cli.trace_output import trace_lines
    from screenpop.lookup import LookupTrace

    number = parse_caller(raw, settings.numbers.default_region)
    trace = LookupTrace(settings.connectors) if traced else None
    opened = time.perf_counter()
    async with open_engine(settings) as engine:
        started = time.perf_counter()
        first_ms: float | None = None
        sections = engine.initial(number)
        async for snapshot in engine.snapshots(number, trace=trace):
            sections = snapshot.sections
            if first_ms is None and any(s.status.final for s in sections.values()):
                first_ms = (time.perf_counter() - started) * 1000
        timings = LookupTimings(
            started_ms=(started - opened) * 1000,
            first_ms=first_ms,
            complete_ms=(time.perf_counter() - started) * 1000,
        )
    card = Card(call_id="", caller=number, received_at="", sections=sections, status="lookup", complete=True)
    rendered = render_card(card, section_specs(settings), frozenset())
    report = trace.report(sections) if trace is not None else None
    if as_json:
        print(
            json.dumps(  # output for jq and scripts: standard JSON, no NaN from a source's data
                finite_values(rendered | ({"trace": report} if report is not None else {})),
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print_card_table(rendered, timings, {c.name: c.display for c in settings.connectors})
        if report is not None:
            print("\n".join(trace_lines(report)))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from screenpop.cli.check import run_checks

    settings = _settings(args)
    if args.number is not None:
        phone_number(args.number, settings)  # a test lookup of no number would only say "skipped"
    rows = asyncio.run(run_checks(settings, args.number))
    print_check_table(rows)
    return 0 if all(r.ok for r in rows) else 1


def cmd_ami_replay(args: argparse.Namespace) -> int:
    from screenpop.providers.ami_events import parse_ami_stream

    settings = _settings(args)
    amis = [
        p
        for p in settings.providers
        if p.kind == "asterisk_ami" and (not args.provider or p.name == args.provider)
    ]
    if not amis:
        raise ConfigError(f"{settings.source}: providers: no asterisk_ami provider to replay through")
    try:
        text = Path(args.file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise OSError(f"cannot read {args.file}: {exc.strerror}") from exc
    events = parse_ami_stream(text, amis[0])
    for event in events:
        who = f"agent {event.agent or '-'}  queue {event.queue or '-'}"
        print(f"{event.event.value:8} call {event.call_id}  from {event.from_raw or '-'}  {who}")
    print(f"{len(events)} call events", file=sys.stderr)
    if args.url is not None:
        return post_events(args.url, generic_provider(settings), events)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from screenpop.cli.audit import show_audit

    return show_audit(args, _settings(args))


def cmd_erase(args: argparse.Namespace) -> int:
    from screenpop.cli.erase import erase

    return erase(args, _settings(args))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "serve": cmd_serve,
    "check": cmd_check,
    "lookup": cmd_lookup,
    "call": cmd_call,
    "token": cmd_token,
    "demo-data": cmd_demo_data,
    "audit": cmd_audit,
    "erase": cmd_erase,
    "ami-replay": cmd_ami_replay,
}
