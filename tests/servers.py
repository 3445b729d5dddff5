"""Real servers for tests, bound to 127.0.0.1, started in their own process group and always stopped.

MariaDB and Redis (Debian packages), moto's S3 server and a static HTTP server. Every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status < 500
    except Exception:
        return False


@contextlib.contextmanager
def process_group(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` in a new session; kill the whole group on exit (SIGTERM, then SIGKILL)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


# ------------------------------------------------------------------------------------------- HTTP


@contextlib.contextmanager
def http_server(root: Path, workdir: Path) -> Iterator[str]:
    """Serve ``root`` read-only over HTTP on 127.0.0.1; yields the base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", LOOPBACK, "--directory", str(root)]
    with process_group(cmd, workdir / "http.log"):
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: _http_ok(url + "/"), "http.server")
        yield url


# --------------------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    key: str = "testing"
    secret: str = "testing"

    @property
    def storage_options(self) -> dict:
        return {"key": self.key, "secret": self.secret, "client_kwargs": {"endpoint_url": self.url}}


@contextlib.contextmanager
def moto_s3_server(workdir: Path) -> Iterator[S3Endpoint]:
    """moto in server mode on 127.0.0.1 (a real HTTP S3 endpoint)."""
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    with process_group(cmd, workdir / "moto.log"):
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: _http_ok(url + "/moto-api/"), "moto server")
        yield S3Endpoint(url)


# ------------------------------------------------------------------------------------------ MariaDB


@dataclass(frozen=True)
class MariaDB:
    host: str
    port: int
    socket: str
    reader_user: str = "anonymous"

    def root_connection(self, database: str | None = None):
        import pymysql

        return pymysql.connect(
            unix_socket=self.socket, user="root", database=database, local_infile=True, autocommit=True
        )


def mariadb_binaries() -> tuple[str, str]:
    server = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not os.path.exists(server) or not install:
        raise RuntimeError("MariaDB is not installed (Debian package mariadb-server); .ci/run installs it")
    return server, install


@contextlib.contextmanager
def mariadb_server(workdir: Path) -> Iterator[MariaDB]:
    """A private MariaDB instance (own datadir, socket and port) with a password-less ``anonymous`` user."""
    server, install = mariadb_binaries()
    datadir, sock = workdir / "data", workdir / "mysqld.sock"
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--auth-root-authentication-method=socket",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    cmd = [
        server,
        "--no-defaults",
        f"--datadir={datadir}",
        f"--socket={sock}",
        f"--port={port}",
        f"--bind-address={LOOPBACK}",
        f"--pid-file={workdir / 'mysqld.pid'}",
        "--user=root",
        "--local-infile=1",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=64M",
    ]
    with process_group(cmd, workdir / "mariadb.log"):
        db = MariaDB(LOOPBACK, port, str(sock))

        def ready() -> bool:
            try:
                db.root_connection().close()
                return True
            except Exception:
                return False

        wait_until(ready, "MariaDB")
        with db.root_connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM mysql.global_priv WHERE User = ''")  # default anonymous accounts
            cur.execute("FLUSH PRIVILEGES")
            for host in ("localhost", LOOPBACK):
                cur.execute(f"CREATE USER IF NOT EXISTS 'anonymous'@'{host}' IDENTIFIED BY ''")
                cur.execute(f"GRANT SELECT, SHOW DATABASES ON *.* TO 'anonymous'@'{host}'")
        yield db


def load_test_db(db: MariaDB, folder: Path, name: str) -> None:
    """Create database ``name`` from an Ensembl test-DB folder (``table.sql`` + ``{table}.txt``)."""
    statements = [s.strip() for s in (folder / "table.sql").read_text().split(";") if s.strip()]
    with db.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        for statement in statements:
            cur.execute(statement)
        for data in sorted(folder.glob("*.txt")):
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s IGNORE INTO TABLE `{data.stem}` CHARACTER SET binary",
                (str(data),),
            )


# -------------------------------------------------------------------------------------------- Redis


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Debian's ``redis-server`` on 127.0.0.1 (no persistence); yields its URL ``redis://127.0.0.1:PORT``."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(server):
        raise RuntimeError("redis-server is not installed (Debian package redis-server); .ci/run installs it")
    port = free_port()
    cmd = [server, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    with process_group(cmd, workdir / "redis.log"):

        def ready() -> bool:
            try:
                with socket.create_connection((LOOPBACK, port), timeout=2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_until(ready, "redis-server")
        yield f"redis://{LOOPBACK}:{port}"
