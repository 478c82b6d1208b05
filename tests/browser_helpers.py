"""Render a local HTML file in headless Chromium through the DevTools protocol (no extra packages).

``render(path)`` starts Chromium (Debian's ``chromium``; .ci/run installs it) with a fresh
profile, loads the file, waits for the load event and returns what the page did: each
<img> with its natural size, the console errors and uncaught exceptions, and every URL
the page requested (a self-contained page requests nothing but itself and data: URIs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome")
IMAGES_JS = ("JSON.stringify(Array.from(document.images).map(i => "
             "({alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})))")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class _DevTools:
    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(message)
            if message.get("method") == method:
                return


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float = 60) -> int:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.is_file() and port_file.read_text().strip():
            return int(port_file.read_text().split()[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with status {process.returncode}: {process.stderr.read()[-2000:]!r}")
        time.sleep(0.1)
    raise RuntimeError("chromium did not open its DevTools port in time")


def render(path: str | Path, browser: str | None = None, timeout: float = 90) -> dict:
    from websockets.sync.client import connect

    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as folder:
        profile = Path(folder)
        process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = _devtools_port(profile, process, timeout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as socket:
                tools = _DevTools(socket)
                for domain in ("Page", "Runtime", "Log", "Network"):
                    tools.call(f"{domain}.enable")
                tools.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, timeout=timeout)
                tools.wait_for("Page.loadEventFired", timeout)
                images = json.loads(tools.call("Runtime.evaluate", {"expression": IMAGES_JS,
                                                                    "returnByValue": True})["result"]["value"])
                title = tools.call("Runtime.evaluate", {"expression": "document.title",
                                                        "returnByValue": True})["result"]["value"]
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {"title": title, "images": images, "errors": _errors(tools.events),
            "requests": [e["params"]["request"]["url"] for e in tools.events
                         if e.get("method") == "Network.requestWillBeSent"]}


def _errors(events: list[dict]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            found.append("exception: " + params["exceptionDetails"].get("text", ""))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')} ({params['entry'].get('url', '')})")
        elif method == "Network.loadingFailed":
            found.append(f"network: {params.get('errorText')} ({params.get('type')})")
    return found
