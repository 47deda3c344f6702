"""Debian's Chromium, headless, driven over the Chrome DevTools Protocol (websocket-client): enough to load a page,
evaluate JavaScript in it, and take screenshots, with no browser download and no network."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import websocket

from trendfolio.stack import free_port

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM_CANDIDATES) if path), None)


class BrowserError(AssertionError):
    pass


class HeadlessChromium:
    def __init__(self, binary: str, profile: Path, width: int = 1400, height: int = 1500):
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", f"--remote-debugging-port={self.port}", "--remote-debugging-address=127.0.0.1",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self._ids = itertools.count(1)
        self.exceptions: list[str] = []
        self.socket = websocket.create_connection(self._page_websocket(), timeout=30, suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _page_websocket(self, timeout_s: float = 30) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as response:
                    pages = [t for t in json.load(response) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.2)
        raise BrowserError(f"chromium's DevTools endpoint did not come up on port {self.port} in {timeout_s} s")

    def _receive(self) -> dict:
        message = json.loads(self.socket.recv())
        if message.get("method") == "Runtime.exceptionThrown":
            details = message["params"]["exceptionDetails"]
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        return message

    def call(self, method: str, **params) -> dict:
        message_id = next(self._ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        """Open `url` and return once its load event fired (scripts loaded; the page's own fetches may still run)."""
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        while self._receive().get("method") != "Page.loadEventFired":
            pass

    def wait_for(self, expression: str, timeout_s: float = 60, poll_s: float = 0.2):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll_s)
        raise BrowserError(f"timed out after {timeout_s} s waiting for {expression!r}")

    def screenshot(self, path: Path) -> Path:
        # The window is sized for the whole page: capturing beyond the viewport would resize it and make plotly redraw.
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")  # closes every Chromium process it started, not just the main one
            self.socket.close()
        except (OSError, websocket.WebSocketException, BrowserError):
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
