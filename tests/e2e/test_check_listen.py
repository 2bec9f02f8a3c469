"""`screenpop check` says whether `serve` could listen where `server.host` and `server.port` say.

`serve` refuses an address that is not this machine's, or a host that does
not resolve, with one sentence; `check` passed both, exit 0, so the first
anyone heard of it was a service that would not start.  A port already
taken is a warning, not a failure: it is usually the running screenpop
whose config is being checked.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import yaml

from tests.support.cli import check_rows, screenpop
from tests.support.ports import free_port


def check(tmp_path: Path, host: str, port: int) -> tuple[int, tuple[str, str], str]:
    """`screenpop check` with this server address: exit code, the `server` row, stdout."""
    db = tmp_path / "accounts.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS accounts (id TEXT, phone TEXT)")
    config = {
        "server": {"host": host, "port": port},
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "agent-1"}]},
        "connectors": [
            {
                "name": "accounts",
                "kind": "sql",
                "url": f"sqlite+aiosqlite:///{db}",
                "query": "SELECT id FROM accounts WHERE phone = :e164",
            }
        ],
    }
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    run = screenpop("check", "--config", str(path))
    assert "Traceback" not in run.stderr
    return run.returncode, check_rows(run.stdout)["server"], run.stdout


def test_a_free_loopback_port_passes(tmp_path: Path) -> None:
    port = free_port()
    code, row, out = check(tmp_path, "127.0.0.1", port)
    assert (code, row) == (0, ("ok", f"127.0.0.1:{port} free to listen on")), out


def test_an_address_of_another_machine_fails(tmp_path: Path) -> None:
    """192.0.2.1 is a documentation address (RFC 5737): never one of this machine's."""
    code, row, out = check(tmp_path, "192.0.2.1", free_port())
    assert code == 1, out
    assert row[0] == "FAIL" and "cannot listen on 192.0.2.1" in row[1], out


def test_a_host_that_does_not_resolve_fails(tmp_path: Path) -> None:
    """`.invalid` never resolves (RFC 2606), with or without a DNS server."""
    code, row, out = check(tmp_path, "screenpop.invalid", free_port())
    assert code == 1, out
    assert row[0] == "FAIL" and "the host does not resolve" in row[1], out


def test_a_port_in_use_is_a_warning(tmp_path: Path) -> None:
    """A running screenpop (here: any listener) on the port: warned about, the check still passes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code, row, out = check(tmp_path, "127.0.0.1", port)
    assert (code, row) == (
        0,
        ("warn", f"127.0.0.1:{port} is in use (a running screenpop, or another program)"),
    ), out
