"""The report in a real browser: headless Chromium (Debian's ``chromium``, installed by .ci/run)
opens the page the CLI writes (as ``make demo`` does), through the DevTools protocol
(``websocket-client``): no console error, no request leaves the file, the Vietnamese headings
and the process-map SVG are there, hostile names from the data show as text and run nothing,
the print style hides the contents column, and a screenshot is taken.

Skips with the reason when no Chromium can be found (set ``TTHC_CHROMIUM`` to a binary)."""
from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from test_report import (CATALOG, HOSTILE_OFFICER, HOSTILE_STEP, VI_HEADINGS,
                         write_hostile_sample)

pytestmark = pytest.mark.slow

_CACHE: dict = {}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    env = os.environ.get("TTHC_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in BROWSERS:
        p = shutil.which(name)
        if p:
            return p
    return None


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        self.replies: dict[int, dict] = {}

    def send(self, method: str, params: dict | None = None, timeout: float = 60.0) -> dict:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        end = time.monotonic() + timeout
        while mid not in self.replies:
            if time.monotonic() > end:
                raise TimeoutError(method)
            self._read(end - time.monotonic())
        msg = self.replies.pop(mid)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg.get("result", {})

    def _read(self, timeout: float) -> None:
        self.ws.settimeout(max(timeout, 0.05))
        msg = json.loads(self.ws.recv())
        if "id" in msg:
            self.replies[msg["id"]] = msg
        else:
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == method:
                    return e
            if time.monotonic() > end:
                raise TimeoutError(method)
            self._read(end - time.monotonic())

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        import websocket
        while time.monotonic() < end:
            try:
                self._read(end - time.monotonic())
            except (websocket.WebSocketTimeoutException, TimeoutError):
                break

    def evaluate(self, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # pragma: no cover - best effort
            pass


@pytest.fixture(scope="module")
def chromium():
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium browser found (Debian: apt-get install chromium; .ci/run installs it; "
                    "or set TTHC_CHROMIUM)")
    pytest.importorskip("websocket", reason="websocket-client is needed to drive Chromium (test extra)")
    return exe


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    """The report as `make demo` writes it (the CLI), from the sample with hostile names."""
    from tthc_mining.cli import main
    if "html" in _CACHE and _CACHE["html"].is_file():  # xdist may tear module fixtures down
        return _CACHE["html"]
    d = tmp_path_factory.mktemp("browser")
    csv = write_hostile_sample(d / "hostile.csv", n_dossiers=500)
    out = d / "report.html"
    code = main(["report", str(csv), "--catalog", str(CATALOG), "-o", str(out), "-q"])
    assert code == 0 and out.is_file()
    _CACHE["html"] = out
    return out


@pytest.fixture(scope="module")
def page(chromium, report_html, tmp_path_factory):
    """(DevTools session on the loaded report, the events it produced)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "--remote-allow-origins=*", "--window-size=1280,1800", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    port = None
    end = time.monotonic() + 60
    seen = []
    while port is None and time.monotonic() < end:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if m:
            port = int(m.group(1))
    if port is None:
        proc.kill()
        pytest.skip("Chromium did not start its DevTools endpoint: " + "".join(seen)[-500:])
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
    ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
    dt = DevTools(ws_url)
    for domain in ("Page", "Runtime", "Log", "Network"):
        dt.send(f"{domain}.enable")
    dt.send("Page.navigate", {"url": report_html.resolve().as_uri()})
    dt.wait_event("Page.loadEventFired", timeout=60)
    dt.drain(1.0)  # late console messages
    try:
        yield dt
    finally:
        dt.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_no_console_errors_and_no_network(page):
    errors = []
    for e in page.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            errors.append(p)
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(p)
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(p["entry"])
    assert errors == []
    urls = [e["params"]["request"]["url"] for e in page.events
            if e.get("method") == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(("file:", "data:", "about:")) for u in urls), urls
    assert len(urls) == 1  # the page itself: no font, image, stylesheet or script loaded


def test_vietnamese_headings_and_process_map(page):
    from tthc_mining.render import has_dot
    heads = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    for h in VI_HEADINGS:
        assert any(h in x for x in heads), (h, heads)
    assert page.evaluate("document.documentElement.lang") == "vi"
    if has_dot():
        nodes = page.evaluate("document.querySelectorAll('#process_map figure.map svg g.node').length")
        assert nodes >= 10
        shown = page.evaluate("document.querySelector('#process_map figure.map svg').getBoundingClientRect().width")
        assert shown > 100
    else:
        assert page.evaluate("document.querySelectorAll('#process_map table').length") >= 1
    charts = page.evaluate("document.querySelectorAll('main figure svg').length")
    assert charts >= 4


def test_hostile_names_are_text(page):
    from tthc_mining.render import has_dot
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    text = page.evaluate("document.body.innerText")
    assert HOSTILE_STEP in text and HOSTILE_OFFICER in text
    if has_dot():
        in_map = page.evaluate("Array.from(document.querySelectorAll('#process_map svg text'))"
                               ".some(t => t.textContent.includes('<script>alert(1)</script>'))")
        assert in_map


def test_print_style_and_screenshot(page, tmp_path):
    shot = page.send("Page.captureScreenshot", {"format": "png"})
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    (tmp_path / "report.png").write_bytes(png)
    width = int.from_bytes(png[16:20], "big")
    assert width >= 1000
    assert page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") != "none"
    page.send("Emulation.setEmulatedMedia", {"media": "print"})
    assert page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") == "none"
    page.send("Emulation.setEmulatedMedia", {"media": ""})
