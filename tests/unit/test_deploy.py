"""The headers the page needs, held to one source (site_build/headers.py) everywhere they
are written: the service worker's copy, the page's <meta> policy and the host configs."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from site_build import assemble
from site_build.common import ROOT
from site_build.headers import CONTENT_SECURITY_POLICY, HEADERS, META_CONTENT_SECURITY_POLICY

DEPLOY = ROOT / "deploy"


def header_lines(text: str, pattern: str) -> dict[str, str]:
    return {m["name"]: m["value"] for m in re.finditer(pattern, text, re.MULTILINE)}


# Each host config, read the way its host reads it, as {header: value}.
HOST_CONFIGS = {
    "_headers": lambda text: header_lines(text, r"^  (?P<name>[\w-]+): (?P<value>.+)$"),
    "vercel.json": lambda text: {h["key"]: h["value"] for rule in json.loads(text)["headers"]
                                 if rule["source"] == "/(.*)" for h in rule["headers"]},
    "nginx.conf": lambda text: header_lines(text, r'^add_header (?P<name>[\w-]+) "(?P<value>[^"]+)" always;$'),
    "Caddyfile": lambda text: header_lines(text, r'^\t\t(?P<name>[\w-]+) "(?P<value>[^"]+)"$'),
}


@pytest.mark.parametrize("name", HOST_CONFIGS)
def test_each_host_config_sends_exactly_the_headers(name: str) -> None:
    assert HOST_CONFIGS[name]((DEPLOY / name).read_text()) == HEADERS


class MetaPolicy(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.policies: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "content-security-policy":
            self.policies.append(found.get("content"))


@pytest.fixture()
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The web files, the service worker and the host configs, built into ``tmp_path``."""
    monkeypatch.setattr(assemble, "DIST", tmp_path)
    web_files = assemble.copy_web_files()
    assemble.copy_host_configs()
    (tmp_path / "icons").mkdir()
    assemble.write_service_worker("0123456789ab", web_files)
    return tmp_path


def test_the_service_worker_adds_exactly_the_headers(built: Path) -> None:
    text = (built / "service_worker.js").read_text()
    copy = re.search(r"^const HEADERS = (\{.*?^\});$", text, re.MULTILINE | re.DOTALL)
    assert copy, "the service worker holds no HEADERS"
    assert json.loads(copy[1]) == HEADERS


def test_the_page_carries_the_policy_a_meta_tag_can(built: Path) -> None:
    parser = MetaPolicy()
    parser.feed((built / "index.html").read_text())
    assert parser.policies == [META_CONTENT_SECURITY_POLICY]
    # The header's policy less only what browsers ignore in a <meta> tag.
    dropped = set(CONTENT_SECURITY_POLICY.split("; ")) - set(META_CONTENT_SECURITY_POLICY.split("; "))
    assert dropped == {"frame-ancestors 'none'"}
    assert set(META_CONTENT_SECURITY_POLICY.split("; ")) < set(CONTENT_SECURITY_POLICY.split("; "))


def test_the_build_ships_the_configs_hosts_read_from_the_site(built: Path) -> None:
    for name in assemble.HOST_CONFIGS:
        assert (built / name).read_bytes() == (DEPLOY / name).read_bytes()
