"""Fault injection with real parts: a TCP server that never answers, a tmpfs of a few hundred KB, read-only
folders, damaged dumps, MariaDB with hostile names (the ``mariadb`` fixture of ``tests/conftest.py``).

Every test runs the real command line in a subprocess with a 60 s timeout and checks the exit code, the one-line
error, that no temporary file is left and that the previous good output is intact (helpers.py).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import NO_DAC_OVERRIDE, SIM, TARGET, is_root, mounted, run_cli, write_study
from servers import LOOPBACK

# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tmpfs("200k")`` mounts a tmpfs of that size under ``tmp_path`` (root only, else the test is skipped)."""
    counter = itertools.count()
    with contextlib.ExitStack() as stack:

        def mount(size: str) -> Path:
            target = tmp_path / f"tmpfs-{size}-{next(counter)}"
            return stack.enter_context(mounted(target, "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs"))

        yield mount


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """``read_only(folder)``: a read-only view of ``folder`` (a read-only bind mount; root only)."""
    counter = itertools.count()
    with contextlib.ExitStack() as stack:

        def view(folder: Path) -> Path:
            target = tmp_path / f"ro-{folder.name}-{next(counter)}"
            stack.enter_context(mounted(target, "--bind", str(folder)))
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, timeout=30)
            return target

        yield view


@pytest.fixture
def no_permission() -> tuple[list[str], str]:
    """(command prefix, reason) to run the CLI where a 0o555 folder cannot be written: as a normal user nothing
    is needed; root runs it without CAP_DAC_OVERRIDE (``setpriv``)."""
    if not is_root():
        return [], "permission denied"
    if shutil.which("setpriv") is None:
        pytest.skip("as root, EACCES needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return NO_DAC_OVERRIDE, "permission denied"


@pytest.fixture(scope="session")
def silent_server() -> Iterator[str]:
    """``host:port`` of a TCP server on 127.0.0.1 that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"{LOOPBACK}:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


class FlakyProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that answers requests with a 503 (S3's ``SlowDown``)
    instead of forwarding them in bursts of ``burst`` out of every ``every`` — longer than the one retry botocore
    makes on its own; ``refused`` counts those answers."""

    def __init__(self, upstream: str, every: int = 8, burst: int = 2) -> None:
        import http.client
        import http.server
        import urllib.parse

        target = urllib.parse.urlsplit(upstream)
        proxy = self
        self.refused, self._count, self._lock = 0, 0, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    proxy._count += 1
                    fail = proxy._count % every < burst
                    proxy.refused += fail
                if fail:
                    error = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(error)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky_s3(s3) -> Iterator[FlakyProxy]:
    """moto's S3 behind a proxy that refuses two requests in a row out of every eight with a 503."""
    proxy = FlakyProxy(s3.url)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture(scope="session")
def sim_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated mirror (200 genes, releases 1-3) to read from and to damage copies of."""
    from idtrack_core.simulation import simulate_mirror

    mirror = tmp_path_factory.mktemp("faults") / "sim"
    simulate_mirror(str(mirror), genes=200, releases=(1, 3), seed=1)
    return mirror


@pytest.fixture
def mirror_copy(sim_mirror: Path, tmp_path: Path) -> Path:
    """A private copy of the simulated mirror, to damage."""
    copy = tmp_path / "mirror"
    shutil.copytree(sim_mirror, copy)
    return copy


@pytest.fixture(scope="session")
def sim_home(sim_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding the mirror's extracts, snapshot and the index for (latest, HGNC Symbol): a warm cache."""
    home = tmp_path_factory.mktemp("faults_home") / "home"
    proc = run_cli("convert", "--source", sim_mirror, "--home", home, *SIM, *TARGET, "SIMX1")
    assert proc.returncode == 0, proc.stderr
    return home


@pytest.fixture
def home_copy(sim_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(sim_home, copy)
    return copy


@pytest.fixture(scope="session")
def gene_ids(sim_mirror: Path) -> list[str]:
    """The gene IDs of the latest simulated release."""
    from idtrack_core.simulation import read_ground_truth

    genes = read_ground_truth(str(sim_mirror)).genes
    return sorted(set(genes.loc[genes["release"] == 3, "stable_id"].astype(str)))


@pytest.fixture(scope="session")
def entrez_ids(sim_mirror: Path) -> list[str]:
    """NCBI Gene IDs (numbers) of the latest simulated release."""
    from idtrack_core.simulation import read_ground_truth

    names = read_ground_truth(str(sim_mirror)).names
    return sorted(set(names.loc[(names["release"] == 3) & (names["kind"] == "entrez_id"), "name"].astype(str)))


@pytest.fixture(scope="session")
def studies(tmp_path_factory: pytest.TempPathFactory, gene_ids: list[str]) -> dict[str, Path]:
    """Study files: ``big`` (2,000 cells: its atlas needs MBs), ``small`` (20 cells), ``empty`` (0 cells)."""
    folder = tmp_path_factory.mktemp("studies")
    return {
        "big": write_study(folder / "big.h5ad", gene_ids, 2000, seed=1),
        "small": write_study(folder / "small.h5ad", gene_ids[:50], 20, seed=2),
        "empty": write_study(folder / "empty.h5ad", gene_ids[:50], 0, seed=3),
    }
