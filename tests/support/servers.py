"""Real PostgreSQL and Redis servers for the test suite.

Each server runs from its own throwaway directory on a free loopback port, so
several test runs (or engineers) on one machine never share state. A missing
binary raises ``ServerError`` instead of skipping: CI must really run against
PostgreSQL and Redis, and a silently skipped suite would hide that it did not.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.support.ports import free_port
from tests.support.waiting import wait_until

_INSTALL_HINT = "run 'make test' (scripts/install-test-deps.sh installs it)"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# Every server is spawned from this one thread, which lives as long as the test run.  Their
# ``setpriv --pdeathsig`` stops a server when the thread that spawned it ends (Linux ties the
# signal to the thread, not the process), so one restarted from ``asyncio.to_thread`` was stopped
# as soon as the test's loop shut its executor down: the next test met a dead session server.
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-server-spawner")


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    def spawn() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    return _SPAWNER.submit(spawn).result()


class ServerError(RuntimeError):
    """A test server could not be found, started or stopped."""


def find_binary(name: str, *, postgres: bool = False) -> str:
    """Locate ``name``; PostgreSQL's server binaries live outside PATH on Debian."""
    if postgres:
        versions = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
            reverse=True,
        )
        for bindir in versions:
            candidate = Path(bindir) / name
            if os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"{name} is not installed; {_INSTALL_HINT}")
    return found


def _wait_started(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float
) -> None:
    """Poll ``ready`` until it holds, failing fast if the process died meanwhile."""

    def up() -> bool:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        return ready()

    try:
        wait_until(up, timeout, f"{what} ready")
    except AssertionError:
        raise ServerError(f"{what} was not ready within {timeout:.0f} s:\n{_tail(log)}") from None


def _tail(log: Path, lines: int = 20) -> str:
    """The end of a server log, which is where the reason for a failure is."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 10.0) -> None:
    """Stop ``proc`` with ``sig``, escalating to SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class _Server:
    """Shared life cycle: a temp directory, a port, one child process, a log."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"screenpop-{self.name}-"))
        self.log = self.dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        atexit.register(self.close)

    def _command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Hook run before each start (e.g. initdb on first start)."""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it answers on its port."""
        if self._closed:
            raise ServerError(f"{self.name} was closed and cannot be started again")
        if self.running:
            return
        self._prepare()
        self._proc = _spawn(self._command(), self.log)
        _wait_started(self.is_ready, self._proc, self.name, self.log, timeout)

    def stop(self) -> None:
        """Stop the server; its data directory stays for a later ``start``."""
        _terminate(self._proc, self.stop_signal)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server, as a crashed machine vanishes: no shutdown, no goodbye to replicas."""
        _terminate(self._proc, signal.SIGKILL)
        self._proc = None

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same port, as an outage would look to clients."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the server for good and delete its directory (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        atexit.unregister(self.close)


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster, run as the ``postgres`` user when we are root."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: no waiting for clients to leave

    def __init__(self) -> None:
        self._postgres = find_binary("postgres", postgres=True)
        self._initdb = find_binary("initdb", postgres=True)
        self._isready = find_binary("pg_isready", postgres=True)
        self._createdb = find_binary("createdb", postgres=True)
        super().__init__()
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        """Prefix argv so it runs as ``postgres`` (initdb and postgres refuse root)."""
        if os.geteuid() != 0:
            return argv
        return [
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--pdeathsig=INT",
            "--",
            *argv,
        ]

    def _prepare(self) -> None:
        if self.data.exists():
            return
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.log.touch()
            os.chown(self.log, owner.pw_uid, owner.pw_gid)
        argv = [
            self._initdb,
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
        done = subprocess.run(self._as_owner(argv), capture_output=True, check=False, timeout=120)
        if done.returncode != 0:
            raise ServerError(f"initdb failed:\n{done.stdout.decode()}{done.stderr.decode()}")

    def _command(self) -> list[str]:
        return self._as_owner(
            [
                self._postgres,
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
        )

    def is_ready(self) -> bool:
        done = subprocess.run(
            [self._isready, "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
            check=False,
            timeout=10,
        )
        return done.returncode == 0

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        done = subprocess.run(
            [self._createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            capture_output=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise ServerError(f"createdb {name} failed: {done.stderr.decode().strip()}")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a test's database (its connections too), so the cluster stays small to delete at the end.

        Best effort: a database left behind only costs disk until ``close``.
        """
        if not _DB_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        dropdb = str(Path(self._createdb).with_name("dropdb"))
        where = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run(
            [dropdb, "--force", "--if-exists", *where, name],
            capture_output=True,
            check=False,
            timeout=30,
        )


class RedisServer(_Server):
    """A throwaway redis-server with persistence off."""

    name = "redis"

    def __init__(self) -> None:
        self._binary = find_binary("redis-server")
        super().__init__()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            "setpriv",
            "--pdeathsig=TERM",
            "--",
            self._binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]

    def command(self, *words: str) -> bytes:
        """Send one inline command and return the first reply line (no client library)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.strip()

    def is_ready(self) -> bool:
        with contextlib.suppress(OSError):
            return self.command("PING") == b"+PONG"
        return False

    def flushall(self) -> None:
        """Empty every database, so each test starts from a blank Redis."""
        reply = self.command("FLUSHALL")
        if reply != b"+OK":
            raise ServerError(f"FLUSHALL answered {reply!r}")


class RedisReplica(RedisServer):
    """A throwaway redis-server that replicates ``primary_port`` from its start."""

    name = "redis-replica"

    def __init__(self, primary_port: int) -> None:
        self.primary_port = primary_port
        super().__init__()

    def _command(self) -> list[str]:
        return [*super()._command(), "--replicaof", "127.0.0.1", str(self.primary_port)]


class SentinelServer(RedisServer):
    """A real Redis Sentinel (``redis-server FILE --sentinel``) watching one primary, with quick failover.

    ``down_after_ms`` and ``failover_timeout_ms`` are small so that a test's
    failover takes a second or two instead of the defaults' half-minute.
    """

    name = "redis-sentinel"

    def __init__(
        self,
        service: str,
        primary_port: int,
        quorum: int = 2,
        down_after_ms: int = 500,
        failover_timeout_ms: int = 2000,
    ) -> None:
        super().__init__()
        self._conf = self.dir / "sentinel.conf"
        self._conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary_port} {quorum}\n"
            f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
            f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {service} 1\n"
        )

    def _command(self) -> list[str]:
        return ["setpriv", "--pdeathsig=TERM", "--", self._binary, str(self._conf), "--sentinel"]
