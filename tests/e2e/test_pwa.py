"""The app as an installable, locked-down web app."""

import pytest

from pagekit import CHROMIUM, CHROMIUM_ARGS, open_app

pytestmark = pytest.mark.e2e


def test_chromium_finds_the_app_installable(playwright, site, tmp_path):
    # Installability needs a real profile: Playwright's ordinary contexts are incognito.
    context = playwright.chromium.launch_persistent_context(tmp_path / "profile", executable_path=CHROMIUM,
                                                           args=CHROMIUM_ARGS)
    page, log = open_app(context, site)
    page.evaluate("navigator.serviceWorker.ready")
    cdp = page.context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    assert manifest["url"].endswith("/manifest.webmanifest")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    context.close()
    assert errors == [], errors
    assert not log.errors, log.errors


def test_every_response_carries_the_content_security_policy(app, site):
    page, log = app
    headers = page.evaluate("""async () => {
      const out = {};
      for (const path of ['./', './worker.js', './bridge.js', './build.json']) {
        out[path] = (await fetch(path, {cache: 'no-store'})).headers.get('content-security-policy');
      }
      return out;
    }""")
    for path, policy in headers.items():
        assert policy and "connect-src 'self' blob:" in policy and "default-src 'self'" in policy, (path, policy)
    # The policy is enforced: the page cannot reach another origin.
    blocked = page.evaluate("""() => fetch('http://127.0.0.2:9/x').then(() => 'sent', (e) => 'blocked')""")
    assert blocked == "blocked"
    violations = [e for e in log.errors if "127.0.0.2" in e and "Content Security Policy" in e]
    assert violations, log.errors
    log.errors[:] = [e for e in log.errors if "127.0.0.2" not in e]
    assert requests_to(log, "127.0.0.2") == []


def requests_to(log, host):
    return [url for url in log.urls if host in url]
