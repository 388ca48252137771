"""The built site, served on 127.0.0.1, driven in headless Debian Chromium."""

import threading
from urllib.parse import urlparse

import pytest

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
BOOT_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 180_000


@pytest.fixture(scope="session")
def site():
    """Build dist/ from the current sources and serve it; yields the base URL."""
    import build

    build.build()
    server = build.make_server(build.DIST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class RequestLog:
    """Every request the page, its workers and its service worker make."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def foreign(self, base: str) -> list[str]:
        origin = urlparse(base).netloc
        return [u for u in self.urls if urlparse(u).scheme not in ("blob", "data") and urlparse(u).netloc != origin]


@pytest.fixture()
def app(browser, site):
    """A fresh browser context with the app booted; yields (page, request_log)."""
    context = browser.new_context()
    log = RequestLog()
    context.on("request", lambda request: log.urls.append(request.url))
    page = context.new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A missing file or a failed script shows up here first.
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(site)
    page.wait_for_function("window.darkroom !== undefined")
    page.evaluate("window.darkroom.ready")
    yield page, log
    context.close()
    assert not errors, f"errors in the page: {errors}"
