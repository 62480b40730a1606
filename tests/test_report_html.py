"""report.html in headless Chromium (Debian's `chromium`; `make test` installs it): it loads from
disk with no console errors, no exceptions and no network requests, every plot renders with a
size, and text from the data is shown as text, never run as markup.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
fd 3, replies on fd 4, NUL-separated JSON), with the standard library only. A missing chromium
fails the test: CI must run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from curate.report.files import write_report
from tests.report_helpers import load, report_of, sample_run

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a small /dev/shm
    "--remote-debugging-pipe",
)
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & </td>'
# run in the page after load: what rendered, as JSON
PROBE = """JSON.stringify({
  plots: [...document.querySelectorAll('svg.plot')].map(s => {
    const r = s.getBoundingClientRect();
    return {w: r.width, h: r.height, marks: s.querySelectorAll('rect').length,
            title: s.getAttribute('aria-label')};
  }),
  scripts: document.querySelectorAll('script').length,
  imgs: document.querySelectorAll('img').length,
  pwned: typeof window.__pwned,
  bold: document.querySelectorAll('b').length,
  text: document.body.textContent,
})"""


class Chromium:
    """A headless Chromium and one page, over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._evt_r, evt_w = os.pipe()

        def fds() -> None:  # in the child: the pipe ends on fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(evt_w, 4)

        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile.parent / "chromium.log"
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            pass_fds=(3, 4),
            preexec_fn=fds,
        )
        os.close(cmd_r)
        os.close(evt_w)
        self._buf, self._id, self.events, self.session = b"", 0, [], None

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._evt_r], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"chromium did not answer; see {self.log}")
            chunk = os.read(self._evt_r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited; see {self.log}")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def send(self, method: str, timeout: float = 30, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._read(deadline))

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass

    def open(self, url: str) -> dict:
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.drain(0.5)  # late console messages
        result = self.send("Runtime.evaluate", expression=PROBE, returnByValue=True)
        return json.loads(result["result"]["value"])

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._evt_r)


def problems(events: list[dict]) -> list[str]:
    """Console errors and warnings, uncaught exceptions, log errors, requests off the disk."""
    found = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
            found.append(f"console.{p['type']}: {p['args']}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {p['exceptionDetails']}")
        elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            found.append(f"log {p['entry']['level']}: {p['entry']['text']}")
        elif method == "Network.requestWillBeSent" and not p["request"]["url"].startswith(
            ("file:", "data:")
        ):
            found.append(f"network request: {p['request']['url']}")
        elif method == "Network.loadingFailed":
            found.append(f"load failed: {p}")
    return found


@pytest.fixture
def chromium(tmp_path):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:  # a fail, not a skip: the HTML report is only tested here
        pytest.fail("chromium is not installed (apt-get install chromium; `make test` does it)")
    browser = Chromium(binary, tmp_path / "profile")
    yield browser
    browser.close()


def test_report_html_renders_offline_with_no_errors(tmp_path_factory, tmp_path, chromium):
    run = sample_run(tmp_path_factory)
    doc = load(report_of(tmp_path_factory, run, "run") / "report.json")
    # data that looks like markup: it must show as text and never run
    group = next(g for g in doc["samples"] if g["reason"] == "exact_duplicate")
    group["samples"][0]["text"] = EVIL
    doc["distributions"]["label"]["kept"]["<b>bold</b>"] = 3
    out = tmp_path / "page"
    page = write_report(doc, out)["report.html"]
    html = page.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html and "<link" not in html

    seen = chromium.open(page.as_uri())
    assert problems(chromium.events) == []
    titles = [p["title"] for p in seen["plots"]]
    for wanted in (
        "rows kept after each stage",
        "rejected rows by stage and reason",
        "characters per row (log-spaced bins)",
        "kept rows",  # languages
        "kept rows per class",
        "label-issue fraction per class",
        "clusters by size (rows per cluster)",
    ):
        assert wanted in titles, titles
    for plot in seen["plots"]:
        assert plot["w"] > 100 and plot["h"] > 50 and plot["marks"] >= 1, plot
    assert seen["scripts"] == 0 and seen["imgs"] == 0 and seen["pwned"] == "undefined"
    assert "<script>window.__pwned = 1</script>" in seen["text"]
    assert "<b>bold</b>" in seen["text"] and seen["bold"] == 0
    assert "dedup: exact_duplicate" in seen["text"] and "3,610" in seen["text"]


def test_the_probe_sees_console_errors_and_network_requests(tmp_path, chromium):
    """Guards the check above: a page with an error and a remote image is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>console.error('boom'); undefined_fn();</script>"
        '<img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    chromium.open(page.as_uri())
    found = "\n".join(problems(chromium.events))
    assert "console.error" in found and "exception" in found
    assert "network request: http://127.0.0.1:9/x.png" in found
