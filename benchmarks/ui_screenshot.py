"""Screenshot of the global asset lineage in the Dagster UI (``docs/lineage.png``), taken by a real browser.

What it does, all on 127.0.0.1 and in a throwaway home folder (nothing is written into the repository except
the PNG):

1. generates the embedded demo data into ``{home}`` (600 genes, releases 1–4: a few seconds) and writes a minimal
   Dagster instance into ``{home}/dagster/dagster.yaml`` (SQLite storage there, the default *synchronous* run
   coordinator: runs launched from the UI start at once, no daemon needed; telemetry off);
2. unless ``--no-materialize``: materializes the demo lineage in-process with ``idtrack_assets.demo.run_demo``
   into that instance, so the graph shows each asset's status, checks and partitions (a stage that fails is
   reported and shown as failed in the picture; the screenshot is still taken);
3. starts ``python -m dagster_webserver -w workspace.yaml -h 127.0.0.1 -p <free port>`` in its own session with
   ``DAGSTER_HOME={home}/dagster``, ``IDTRACK_HOME={home}``, ``IDTRACK_STORAGE={home}/storage``, waits (bounded)
   for ``/server_info``, and kills the whole process group at the end (SIGTERM, then SIGKILL);
4. opens ``/asset-groups`` (Dagster 1.13's "Global asset lineage" page) in Debian's headless Chromium through
   Python playwright (fresh ``--user-data-dir``), dismisses the first-run "Join the Dagster community" modal if
   the server says it will show it (``shouldShowNux``), hides the navigation and the asset tree, expands every
   group (the UI's ``⌥E`` shortcut, or its "Expand all groups" menu item as a fallback), waits until all nine
   asset names are rendered, and saves the PNG.

The page is laid out at 2000×1250 CSS pixels and captured at device scale 0.8, i.e. a 1600×1000 PNG: at that
layout size the graph's zoom-to-fit stays above the level where Dagster switches to "minimal" nodes (which
truncate long names such as ``ensembl_r…_extract`` and hide status), so every node shows its full name,
latest event, checks and partitions.

``tests/test_ui.py`` uses :func:`prepare_home`, :func:`dagster_webserver`, :func:`graphql` and
:func:`render_lineage` from here, so the picture and the CI test come from the same code.

Run from the repository root (takes about 40 s on 2 cores)::

    python -m benchmarks.ui_screenshot                                  # → docs/lineage.png
    python -m benchmarks.ui_screenshot --out lineage.png --no-materialize --keep-home ui_home
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import LOOPBACK, free_port, process_group, wait_until  # tests/servers.py

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAYOUT = {"width": 2000, "height": 1250}  # CSS pixels the page is laid out in
SCALE = 0.8  # device pixels per CSS pixel → a 1600×1000 PNG
LINEAGE_PATH = "/asset-groups"  # "Global asset lineage" in Dagster 1.13
START_TIMEOUT_S = 120.0  # the webserver loads the code location (imports dagster, pandas, anndata, …)
PAGE_TIMEOUT_S = 60.0
DEMO_GENES, DEMO_RELEASES = 600, (1, 4)

# A throwaway instance: SQLite under DAGSTER_HOME (the default), runs launched at once from the webserver
# (DefaultRunCoordinator: the repo's QueuedRunCoordinator would leave them QUEUED without a daemon).
INSTANCE_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


def asset_names() -> list[str]:
    """The asset keys the definitions declare (``idtrack_assets.definitions.ASSETS``)."""
    from idtrack_assets.definitions import ASSETS

    return sorted(a.key.to_user_string() for a in ASSETS)


def prepare_home(home: Path, genes: int = DEMO_GENES, releases: tuple[int, int] = DEMO_RELEASES) -> Path:
    """Demo data under ``home`` and a minimal Dagster instance in ``{home}/dagster``; returns that DAGSTER_HOME."""
    from idtrack_core.demo_data import ensure_demo

    ensure_demo(str(home), genes=genes, releases=releases)
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    return dagster_home


def materialize_demo(home: Path) -> bool:
    """Materialize the demo lineage in-process into ``{home}/dagster``; False if a stage failed."""
    from idtrack_assets.demo import run_demo

    return run_demo(str(home), out=sys.stderr, instance_home=str(home / "dagster")) == 0


def webserver_env(home: Path) -> dict[str, str]:
    """The environment of the webserver: this process's, minus any ``IDTRACK_*`` / ``DAGSTER_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDTRACK_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home / "dagster"),
        IDTRACK_HOME=str(home),
        IDTRACK_STORAGE=str(home / "storage"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _server_info(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
            return json.load(r)
    except Exception:
        return None


@contextlib.contextmanager
def dagster_webserver(home: Path, log: Path, timeout_s: float = START_TIMEOUT_S) -> Iterator[str]:
    """``dagster-webserver`` over ``workspace.yaml`` with the instance and data of ``home`` (see
    :func:`prepare_home`); yields its base URL. Own session; the whole process group (webserver, code server,
    run workers) is killed on exit, SIGKILL if SIGTERM is ignored."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-w",
        str(ROOT / "workspace.yaml"),
        "-h",
        LOOPBACK,
        "-p",
        str(port),
    ]
    url = f"http://{LOOPBACK}:{port}"
    with process_group(cmd, log, env=webserver_env(home)) as proc:
        try:
            wait_until(lambda: proc.poll() is not None or _server_info(url) is not None, "dagster-webserver", timeout_s)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; log {log}:\n{_log_tail(log)}") from None
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {proc.returncode}; log {log}:\n{_log_tail(log)}")
        yield url


class GraphQLError(RuntimeError):
    """The webserver answered a GraphQL request with errors."""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout_s: float = 60.0) -> dict:
    """POST ``query`` to ``{url}/graphql``; the ``data`` of the answer (raises :class:`GraphQLError`)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as r:
            answer = json.load(r)
    except urllib.error.HTTPError as exc:  # GraphQL validation errors come back as 400 with a JSON body
        answer = json.loads(exc.read() or b"{}")
    if answer.get("errors") or answer.get("data") is None:
        raise GraphQLError(json.dumps(answer.get("errors"), indent=1)[:4000])
    return answer["data"]


def _expand_all_groups(page: Any, timeout_ms: float) -> None:
    """The UI's "Expand all groups": the ⌥E shortcut, else the graph settings menu item. The page keeps the
    expanded groups in its URL (``?expanded=…``)."""
    page.keyboard.press("Alt+e")
    try:
        page.wait_for_url("**expanded=**", timeout=5000)
        return
    except Exception:
        pass
    page.locator('button:has([aria-label="settings"])').last.click()
    page.get_by_role("menuitem", name="Expand all groups").click(timeout=timeout_ms)
    page.keyboard.press("Escape")  # close the menu


def render_lineage(
    url: str,
    out: Path,
    user_data_dir: Path,
    assets: Sequence[str] | None = None,
    timeout_s: float = PAGE_TIMEOUT_S,
) -> str:
    """Open the global asset lineage page of the webserver at ``url`` in headless Chromium, show every asset and
    save a PNG to ``out``; returns the page's text (the DOM's ``innerText``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import sync_playwright

    assets = list(assets or asset_names())
    timeout_ms = timeout_s * 1000
    show_modal = bool(graphql(url, "{ shouldShowNux }")["shouldShowNux"])  # first run on this DAGSTER_HOME
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=LAYOUT,
            device_scale_factor=SCALE,
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(timeout_ms)
            page.goto(url + LINEAGE_PATH, wait_until="domcontentloaded")
            if show_modal:  # "Join the Dagster community": Skip (the server then remembers it in DAGSTER_HOME/.nux)
                skip = page.get_by_role("button", name="Skip")
                with contextlib.suppress(PlaywrightTimeoutError):
                    skip.click(timeout=min(timeout_ms, 20_000))
                    skip.wait_for(state="detached")
            page.get_by_text("Global asset lineage").first.wait_for()
            page.get_by_role("button", name="Hide navigation").click()  # more room for the graph
            page.locator('button:has([aria-label="panel_show_right"])').click()  # hide the asset tree
            _expand_all_groups(page, timeout_ms)
            for name in assets:  # full nodes (not "minimal" ones) carry the whole name
                page.get_by_text(name, exact=True).wait_for()
            with contextlib.suppress(Exception):  # statuses and checks arrive by further queries
                page.wait_for_load_state("networkidle", timeout=10_000)
            page.wait_for_timeout(1000)  # the zoom-to-fit animation
            page.screenshot(path=str(out))
            return page.inner_text("body")
        finally:
            browser.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "lineage.png", help="PNG to write")
    parser.add_argument("--keep-home", type=Path, help="use (and keep) this home folder instead of a temporary one")
    parser.add_argument("--no-materialize", action="store_true", help="screenshot the bare definitions")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 2
    home = args.keep_home or Path(tempfile.mkdtemp(prefix="idtrack_ui_"))
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        prepare_home(home)
        if not args.no_materialize and not materialize_demo(home):
            print("ui_screenshot: a demo stage failed; it shows as failed in the picture", file=sys.stderr)
        materialized = time.perf_counter()
        with dagster_webserver(home, home / "webserver.log") as url:
            up = time.perf_counter()
            text = render_lineage(url, args.out, home / "chromium-profile")
        missing = [a for a in asset_names() if a not in text]
        print(
            f"{args.out}: {args.out.stat().st_size:,} bytes; demo {materialized - started:.1f} s, "
            f"webserver up {up - materialized:.1f} s, browser {time.perf_counter() - up:.1f} s"
            + (f"; MISSING {missing}" if missing else "")
        )
        return 1 if missing else 0
    finally:
        if args.keep_home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
