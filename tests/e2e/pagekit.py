"""Driving the built app in headless Debian Chromium: shared by the e2e tests and bench/."""

import base64
import io
import json
from urllib.parse import urlparse

import numpy as np
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--enable-unsafe-webgpu",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
RUN_TIMEOUT_MS = 180_000


class PageLog:
    """Every request the page, its workers and its service worker make (URL, method and
    body), and every console error; a test that provokes an error on purpose removes it
    from ``errors``."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.sent: list[tuple[str, str, bytes]] = []  # (method, url, body) of every request
        self.errors: list[str] = []

    def record(self, request) -> None:
        self.urls.append(request.url)
        self.sent.append((request.method, request.url, request.post_data_buffer or b""))

    def foreign(self, base: str) -> list[str]:
        origin = urlparse(base).netloc
        return [u for u in self.urls if urlparse(u).scheme not in ("blob", "data") and urlparse(u).netloc != origin]

    def uploads(self) -> list[str]:
        """Requests that could carry data out: anything but a body-less GET or HEAD."""
        return [f"{method} {url} ({len(body)} bytes)" for method, url, body in self.sent
                if method not in ("GET", "HEAD") or body]


def open_app(context, site):
    """Open the app in ``context`` and wait until it is ready; returns (page, PageLog)."""
    log = PageLog()
    context.on("request", log.record)
    page = context.new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    # A missing file or a failed script shows up here first.
    page.on("console", lambda message: message.type == "error" and log.errors.append(message.text))
    page.goto(site)
    # On a host that sends no COOP/COEP the page reloads itself once, when its service
    # worker (which adds them) takes control: the wait starts again on the new page.
    for attempt in range(2):
        try:
            page.wait_for_function("() => window.darkroom !== undefined")  # a function: CSP forbids eval
            page.evaluate("window.darkroom.ready")
            break
        except PlaywrightError as exc:
            if attempt or "Execution context was destroyed" not in str(exc):
                raise
    return page, log


def main_frame_loads(context) -> list[str]:
    """The URLs that the pages opened in ``context`` from now on load as a whole
    (navigations and reloads of their main frame), as they happen."""
    loads: list[str] = []
    context.on("page", lambda page: page.on(
        "framenavigated", lambda frame: frame == page.main_frame and loads.append(frame.url)))
    return loads


# Calls window.darkroom.run on bytes given as base64; returns {file (base64), type, provenance, data} or {error}.
RUN_HOOK = """async ([tool, b64, params]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    const { blob, provenance, data } = await window.darkroom.run(tool, new Blob([bytes]), params);
    const out = new Uint8Array(await blob.arrayBuffer());
    let s = ''; for (const b of out) s += String.fromCharCode(b);
    return { file: btoa(s), type: blob.type, provenance, data };
  } catch (err) { return { error: err.message }; }
}"""


def run_hook(page, photo: bytes, params: dict, tool: str = "remove-background") -> dict:
    """``window.darkroom.run(tool, photo, params)``; adds ``image`` (a PIL image) on success."""
    reply = page.evaluate(RUN_HOOK, [tool, base64.b64encode(photo).decode(), params])
    if "file" in reply:
        reply["bytes"] = base64.b64decode(reply["file"])
        reply["image"] = Image.open(io.BytesIO(reply["bytes"]))
    return reply


# Resolves when a run ends either way; returns the error text or "".
RUN_ENDED = """() => {
  const error = document.querySelector('[data-testid=error]');
  const result = document.querySelector('.result');
  return (!error.hidden && error.textContent) || (!result.hidden && 'ok');
}"""

READ_RESULT = """async () => {
  const img = document.querySelector('[data-testid=result-image]');
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}"""


def make_plain_server(root):
    """A server for ``root`` that sends no headers of its own, like any static host
    (Python's plain http.server, quiet); on a free port of 127.0.0.1, not yet started."""
    import http.server
    from functools import partial

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))


def make_faulty_server(root):
    """A server for ``root`` that can corrupt chosen files, like a broken network or CDN.

    Returns (server, faults, hits): set ``faults[url_path] = "flip"`` (one byte altered),
    ``"truncate"`` (half the file, cleanly ended) or ``"drop"`` (the connection breaks
    half-way, once; ranged requests are then served); ``hits[url_path]`` counts requests,
    ``hits[url_path + " range"]`` the ranged ones.
    """
    import collections
    import http.server
    import socket
    from functools import partial

    from site_build.server import Handler

    faults, hits = {}, collections.Counter()

    class FaultyHandler(Handler):
        def do_GET(self):
            path = self.path.split("?")[0]
            hits[path] += 1
            if "Range" in self.headers:
                hits[path + " range"] += 1
                return super().do_GET()
            fault = faults.get(path)
            if not fault:
                return super().do_GET()
            data = bytearray((root / path.lstrip("/")).read_bytes())
            if fault == "drop":
                del faults[path]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(bytes(data[: len(data) // 2]))
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if fault == "flip":
                data[len(data) // 2] ^= 0xFF
            else:
                data = data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(bytes(data))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(FaultyHandler, directory=str(root)))
    return server, faults, hits


def add_model(page, path) -> str:
    """Picks ``path`` as the user's model; returns the checker's report once it is in."""
    page.get_by_test_id("model-file").set_input_files(str(path))
    page.wait_for_function("() => !document.querySelector('[data-testid=model-file-report]')"
                           ".textContent.startsWith('Checking')")
    return page.get_by_test_id("model-file-report").inner_text()


def open_tool(page, tool_id, photo):
    page.get_by_test_id(f"tool-{tool_id}").click()
    page.get_by_test_id("file-input").set_input_files(str(photo))
    page.wait_for_function("() => document.querySelector('.before').naturalWidth > 0")


def run_in_page(page) -> tuple[dict, np.ndarray, str]:
    """Runs the tool from its button; returns the provenance, the result and the findings' text."""
    page.get_by_test_id("run").click()  # disables itself until the run ends: the last result stays meanwhile
    page.wait_for_function("() => !document.querySelector('[data-testid=run]').disabled")
    ended = page.wait_for_function(RUN_ENDED).json_value()
    assert ended == "ok", ended
    provenance = json.loads(page.get_by_test_id("provenance").get_attribute("data-provenance"))
    image = Image.open(io.BytesIO(base64.b64decode(page.evaluate(READ_RESULT))))
    return provenance, np.asarray(image), page.get_by_test_id("findings").text_content()
