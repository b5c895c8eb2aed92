"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temporary directory, a unix socket only.

The binaries come from ``PATH`` or Debian's ``/usr/lib/postgresql/N/bin`` (the ``postgresql`` package, which
``.ci/run`` installs). PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as the
``postgres`` account the package creates (or ``nobody``), in a directory handed over to it — the documented way
("initdb must be run as the user that will own the server process"). Tests connect over the socket with ``trust``
authentication, as the ``postgres`` superuser, so no password exists anywhere.

``unavailable()`` says why a cluster cannot be had (the tests that need one skip with that reason).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

__all__ = ["Cluster", "cluster", "pg_bindir", "unavailable"]

_SERIAL = itertools.count(1)


def pg_bindir() -> Path | None:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` are: ``PATH`` first, else the newest Debian version."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def _run_as() -> str | None:
    """The account the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def unavailable() -> str | None:
    """Why no throwaway PostgreSQL cluster can be started here, or None."""
    bindir = pg_bindir()
    if bindir is None:
        return (
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): install "
            "Debian's postgresql package (.ci/run does)"
        )
    if os.geteuid() == 0 and _run_as() is None:
        return "running as root and there is no postgres or nobody account to run PostgreSQL as"
    return None


class Cluster:
    """One running cluster. ``url(db)`` is a state URL for database ``db`` over the unix socket."""

    def __init__(self, root: Path, bindir: Path, user: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.user = user
        self.data = root / "data"
        self.socket_dir = root
        self.log = root / "server.log"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=self.user,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        )

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stdout}{proc.stderr}\n{log}")

    def init(self) -> None:
        self._check(
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ),
            "initdb",
        )

    def start(self) -> None:
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' -c fsync=off "
            "-c max_connections=60 -c shared_buffers=16MB"
        )
        self._check(
            self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "90", "-o", options, "start"
            ),
            "pg_ctl start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._check(
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "90", "stop"), "pg_ctl stop"
        )

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its state URL."""
        name = name or f"state_{os.getpid()}_{next(_SERIAL)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # our own generated name
        return self.url(name)


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """Initialise and start a cluster; stop it and remove everything afterwards."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    bindir = pg_bindir()
    assert bindir is not None
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="sepm-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    pg = Cluster(root, bindir, user)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            if pg.running:
                pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
