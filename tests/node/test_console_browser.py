"""End to end: a real 3-node testnet, its console in real headless Chromium, and ``peermind top``.

Needs Debian's ``chromium`` (``scripts/setup.sh dev`` installs it when run as root) and the
``playwright`` Python package (the ``dev`` extra). Playwright's own browser download is
never used: the test launches /usr/bin/chromium.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_standin import BAD as BAD_PEER

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("PEERMIND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ANSWER_TIMEOUT_MS = 180_000
TOKEN = "console-test-token"


def _testnet_class() -> Any:
    try:
        from peermind.testnet import Testnet  # type: ignore[attr-defined]
    except ImportError:
        from peermind.testnet._launcher import Testnet
    return Testnet


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    net = _testnet_class()(tmp_path_factory.mktemp("console-testnet"))
    try:
        yield net.up(3, profile="mix", progress=lambda msg: print(f"testnet: {msg}"))
    finally:
        net.down()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip("Chromium is not installed: run `apt-get update && apt-get install -y chromium` "
                    "(scripts/setup.sh dev does it when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-", dir=tmp_path),  # a fresh profile every run
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def standin_console(tmp_path: Path) -> Iterator[str]:
    """A seeded stand-in node (no model) whose console needs the token ``TOKEN``."""
    script = Path(__file__).with_name("console_standin.py")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("URL "), f"the stand-in did not start: {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_console_asks_for_the_token_and_highlights_a_liar(standin_console: str, browser_page: Any) -> None:
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(standin_console + "/")
    page.wait_for_selector("#token-modal:not([hidden])", timeout=10_000)  # /console/state said 401
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector('#peer-count[data-count="3"]', timeout=10_000)
    page.wait_for_selector('#live[data-state="live"]', timeout=10_000)  # fetch streaming sent the header

    liar = page.locator(".trust-row.below")
    assert liar.count() == 1 and liar.first.get_attribute("data-peer") == BAD_PEER
    assert page.locator(f'#topology g.node[data-peer="{BAD_PEER}"] circle.halo').count() == 1
    assert page.locator("#rounds-body tr").count() == 3
    assert page.locator("#training-chart circle.rejected").count() == 1  # round 2 was not adopted

    node = page.locator(f'#topology g.node[data-peer="{BAD_PEER}"] circle.body').bounding_box()
    assert node is not None
    page.mouse.move(node["x"] + node["width"] / 2, node["y"] + node["height"] / 2)
    tooltip = page.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
    assert "local trust" in tooltip.inner_text() and "do_not_ask" in tooltip.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-trust.png"), full_page=True)
    foreign = [url for url in requested if not url.startswith("http://127.0.0.1:")]
    assert requested and not foreign, foreign


def test_console_shows_the_network_and_answers_through_it(testnet: list[Any], browser_page: Any) -> None:
    page = browser_page
    node0 = testnet[0]
    requested: list[str] = []
    page_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    page.goto(node0.api_url + "/")
    page.wait_for_selector('#peer-count[data-count="3"]', timeout=30_000)
    assert page.locator("#topology g.node").count() == 3  # this node and its two peers
    assert page.locator("#topology line.edge").count() == 2  # node-0's live connections
    page.wait_for_selector('#live[data-state="live"]', timeout=30_000)  # the event stream is open

    page.fill("#chat-input", "What is the capital of France?")
    page.select_option("#chat-mode", "route")
    page.fill("#chat-max-tokens", "16")
    page.click("#chat-send")
    answer = page.wait_for_selector('#chat-log .msg.a[data-status="ok"]', timeout=ANSWER_TIMEOUT_MS)
    assert answer.inner_text().strip()
    provenance = answer.query_selector(".prov")
    assert provenance is not None and "answered by" in provenance.inner_text()
    assert "mode route" in provenance.inner_text()

    # The same task arrives in the live feed over the event stream, with its provenance.
    row = page.wait_for_selector('#feed-body tr[data-kind="answer"]', timeout=30_000)
    assert "route" in row.inner_text()
    row.click()
    page.wait_for_selector("#drawer:not([hidden]) pre", timeout=5_000)
    assert '"answered_by"' in page.inner_text("#drawer pre")
    page.click("#drawer-close")

    ARTIFACTS.mkdir(exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
    print(f"screenshot: {ARTIFACTS / 'console.png'}")

    assert not page_errors, page_errors
    assert requested, "the page made no requests at all"
    foreign = [url for url in requested if not url.startswith("http://127.0.0.1:")]
    assert not foreign, f"the console loaded non-local URLs: {foreign}"


def test_top_prints_the_network_and_quits_on_ctrl_c(testnet: list[Any]) -> None:
    node0 = testnet[0]
    cmd = [sys.executable, "-m", "peermind.node.cli", "top", "--api", node0.api]
    env = dict(os.environ, COLUMNS="180", LINES="40")
    once = subprocess.run([*cmd, "--once"], capture_output=True, text=True, timeout=60, env=env)
    assert once.returncode == 0, once.stderr
    for other in testnet[1:]:
        assert "…" + other.peer_id[-6:] in once.stdout
    assert "this node" in once.stdout and "trust" in once.stdout and "recent tasks" in once.stdout

    # Live, on a terminal as a user runs it; Ctrl-C (SIGINT) once the first frame is drawn.
    primary, secondary = pty.openpty()
    # a terminal's Ctrl-C: SIGINT at its default, even when this suite runs as a background job
    # (which starts with SIGINT ignored, and an ignored SIGINT is inherited)
    live = subprocess.Popen([*cmd, "--interval", "0.3"], stdin=secondary, stdout=secondary, stderr=secondary,
                            env=env, close_fds=True, preexec_fn=_default_sigint)
    os.close(secondary)
    screen = b""
    try:
        deadline = time.monotonic() + 90
        while b"recent tasks" not in screen and time.monotonic() < deadline and live.poll() is None:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                screen += _read(primary)
        assert b"recent tasks" in screen, screen[-2000:]
        live.send_signal(signal.SIGINT)
        # keep reading while it exits: a full pty buffer would block its last writes
        deadline = time.monotonic() + 20
        while live.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                screen += _read(primary)
        assert live.wait(timeout=1) == 0
        while True:
            chunk = _read(primary)
            if not chunk:
                break
            screen += chunk
        assert b"Traceback" not in screen, screen[-2000:]
    finally:
        if live.poll() is None:
            live.kill()
        os.close(primary)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal closed with the process
        return b""
