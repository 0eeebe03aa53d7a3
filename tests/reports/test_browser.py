"""The HTML reports in a real browser: headless Chromium loads them offline, shows hostile text as text.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no
extra package), which reports every request the page makes and every error it raises; the
screenshots (``tests/_screenshots/``, git-ignored) are for people to look at.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "_screenshots"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Nothing may leave the machine even if a page asked: every proxied request goes nowhere.
    "--proxy-server=127.0.0.1:9",
]
TIMEOUT = 60


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when missing and we are root; else the tests skip."""
    found = shutil.which("chromium")
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("chromium is not installed, and installing it needs root (apt-get install -y chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "chromium"]):
        if shutil.which("chromium"):
            break
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired):
            break
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium is not installed and `apt-get install -y chromium` did not install it")
    return found


def browser_command(chromium: str, profile: Path, *extra: str) -> list[str]:
    return [chromium, *FLAGS, f"--user-data-dir={profile}", *extra]


def screenshot(chromium: str, page: Path, target: Path, profile: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    subprocess.run(browser_command(chromium, profile, "--hide-scrollbars", f"--screenshot={target}",
                                   "--window-size=1200,2000", page.as_uri()),
                   capture_output=True, timeout=TIMEOUT, check=False)
    return target


def dump_dom(chromium: str, page: Path, profile: Path) -> str:
    done = subprocess.run(browser_command(chromium, profile, "--dump-dom", page.as_uri()),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# -- a minimal DevTools-protocol client over --remote-debugging-pipe -----------------------------


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    title: str = ""
    text: str = ""
    scripts: int = 0


class DevTools:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies and events out)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def plumb() -> None:
            # In the child, before close_fds: move the pipe ends out of the way, then onto 3 and 4.
            read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            browser_command(chromium, profile, "--remote-debugging-pipe", "about:blank"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=plumb, pass_fds=(3, 4),
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._events: list[dict[str, Any]] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                self._messages.put(json.loads(message))

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(event.get("method") == method for event in self._events):
            self._events.append(self._messages.get(timeout=max(0.1, deadline - time.monotonic())))

    def load(self, page: Path) -> PageLoad:
        """Open ``page`` in a fresh tab and report its requests, errors, title and visible text."""
        self._events = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Page.navigate", {"url": page.as_uri()}, session=session)
        self.wait_for("Page.loadEventFired")

        def evaluate(expression: str) -> Any:
            return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                             session=session)["result"].get("value")

        load = PageLoad(title=evaluate("document.title"), text=evaluate("document.body.innerText"),
                        scripts=evaluate("document.scripts.length"))
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:")):
                    load.requests.append(url)
            elif method == "Runtime.exceptionThrown":
                load.errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                load.errors.append(params["entry"]["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
                load.errors.append(json.dumps(params["args"])[:500])
        self.send("Target.closeTarget", {"targetId": target})
        return load

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, queue.Empty, AssertionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    devtools = DevTools(chromium, tmp_path_factory.mktemp("chromium-profile"))
    yield devtools
    devtools.close()


# -- the tests -----------------------------------------------------------------------------------


def test_example_reports_load_offline_without_errors(graded_examples: dict[str, Path], browser: DevTools) -> None:
    for assignment, folder in graded_examples.items():
        pages = [folder / "index.html", *sorted(folder.glob("*/feedback.html"))]
        from grader.batch.submissions import discover

        assert len(pages) == 1 + len(discover(ROOT / "submissions" / assignment)), assignment
        for page in pages:
            load = browser.load(page)
            assert load.requests == [], page
            assert load.errors == [], page
            assert load.scripts == 0
            assert assignment in load.title
            if page.name == "feedback.html":
                assert page.parent.name in load.title
                assert "points" in load.text and "Overview" in load.text
            else:
                assert "Score distribution" in load.text and "Submissions" in load.text


def test_summary_links_resolve_to_reports(graded_examples: dict[str, Path]) -> None:
    for folder in graded_examples.values():
        links = set(re.findall(r'<a href="([^"#][^"]*)"', (folder / "index.html").read_text()))
        assert links == {f"{page.parent.name}/feedback.html" for page in folder.glob("*/feedback.html")}


def test_example_reports_screenshots(graded_examples: dict[str, Path], chromium: str, tmp_path: Path) -> None:
    from PIL import Image

    jobs = [
        (page, SCREENSHOTS / f"{assignment}-{'index' if page.name == 'index.html' else page.parent.name}.png")
        for assignment, folder in graded_examples.items()
        for page in [folder / "index.html", *sorted(folder.glob("*/feedback.html"))]
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        shots = list(pool.map(lambda job: screenshot(chromium, job[0], job[1], tmp_path / job[1].stem), jobs))
    for shot in shots:
        assert shot.is_file() and shot.stat().st_size > 20_000, shot
        with Image.open(shot) as image:
            assert image.size == (1200, 2000)
            low, high = image.convert("L").getextrema()
            assert high - low > 100, f"{shot} looks blank"


def test_mnist_report_shows_misclassified_digits(graded_examples: dict[str, Path], browser: DevTools) -> None:
    page = graded_examples["hw1"] / "ben" / "feedback.html"
    load = browser.load(page)
    assert "Confusion matrix" in load.text and "Accuracy per digit" in load.text
    assert "labelled" in load.text and "predicted" in load.text
    assert load.requests == [] and load.errors == []


HOSTILE_SUBMISSION = '''
import numpy as np

def sigmoid(x):
    print("<script>document.title = 'pwned by print'</script><b>bold?</b>")
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))

def softmax(x, beta=1.0):
    raise ValueError("<img src=x onerror=\\"document.title='pwned by error'\\"><script>document.title='pwned'</script>")
'''


def test_submission_printing_html_and_script_shows_it_as_text(
    tmp_path: Path, chromium: str, browser: DevTools
) -> None:
    from grader.kit.selfcheck import check_submission
    from grader.reports.render import render_feedback

    submission = tmp_path / "mallory"
    submission.mkdir()
    (submission / "hw1.py").write_text(HOSTILE_SUBMISSION)
    report = check_submission("hw1", submission)
    page = tmp_path / "feedback.html"
    page.write_text(render_feedback(report), encoding="utf-8")

    load = browser.load(page)
    assert load.title == "hw1 feedback for mallory"
    assert load.scripts == 0
    assert "<script>document.title = 'pwned by print'</script><b>bold?</b>" in load.text
    assert "<script>document.title='pwned'</script>" in load.text
    assert load.requests == [] and load.errors == []

    dom = dump_dom(chromium, page, tmp_path / "profile")
    assert "<title>hw1 feedback for mallory</title>" in dom
    assert "&lt;script&gt;document.title = 'pwned by print'&lt;/script&gt;&lt;b&gt;bold?&lt;/b&gt;" in dom
    assert "<script" not in dom and "<img src=\"x\"" not in dom and "<b>bold" not in dom
