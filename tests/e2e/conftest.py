"""The built site, served on 127.0.0.1, driven in headless Debian Chromium."""

import threading

import pytest

from pagekit import CHROMIUM, CHROMIUM_ARGS, open_app


@pytest.fixture(scope="session")
def site():
    """Build dist/ from the current sources and serve it; yields the base URL."""
    import build
    from site_build.common import DIST
    from site_build.server import make_server

    build.build()
    server = make_server(DIST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture()
def app(browser, site):
    """A fresh browser context with the app booted; yields (page, PageLog)."""
    context = browser.new_context()
    page, log = open_app(context, site)
    yield page, log
    context.close()
    assert not log.errors, f"errors in the page: {log.errors}"
