"""The site build (site_build/): only wheels whose sha256 matches Pyodide's lock are
shipped, and the dev server sends the headers and byte ranges the page needs."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from site_build.common import NODE_MODULES, ROOT
from site_build.pyodide_files import WheelSources, gather_wheels, lock_closure
from site_build.server import make_server


def fake_lock(**files: bytes) -> dict:
    """A pyodide-lock.json-like dict: package 'a' depends on 'b_c' (spelled un-normalised)."""
    return {"packages": {
        "a": {"file_name": "a-1.whl", "sha256": hashlib.sha256(files["a"]).hexdigest(), "depends": ["b_c"]},
        "b-c": {"file_name": "b_c-1.whl", "sha256": hashlib.sha256(files["b"]).hexdigest(), "depends": []},
    }}


class FolderSources(WheelSources):
    """Wheel sources that are only local folders, remembering what was kept."""

    def __init__(self, *folders: Path) -> None:
        super().__init__(None)
        self.folders = folders
        self.kept: list[str] = []

    def candidates(self, file_name: str) -> Iterator[Path]:
        for folder in self.folders:
            yield folder / file_name

    def keep(self, verified: Path) -> None:
        self.kept.append(verified.name)


def test_closure_puts_dependencies_first_and_normalises_names() -> None:
    assert lock_closure(fake_lock(a=b"1", b=b"2"), ("a",)) == ["b-c", "a"]


def test_matching_wheels_are_copied(tmp_path: Path) -> None:
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    (source / "a-1.whl").write_bytes(b"wheel a")
    (source / "b_c-1.whl").write_bytes(b"wheel b")
    sources = FolderSources(source)
    missing = gather_wheels(fake_lock(a=b"wheel a", b=b"wheel b"), ("a",), sources, out)
    assert missing == []
    assert sources.kept == ["b_c-1.whl", "a-1.whl"]
    assert (out / "a-1.whl").read_bytes() == b"wheel a"
    assert (out / "b_c-1.whl").read_bytes() == b"wheel b"


def test_a_wheel_that_differs_from_the_lock_is_never_shipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tampered, good, out = tmp_path / "tampered", tmp_path / "good", tmp_path / "out"
    for folder in (tampered, good, out):
        folder.mkdir()
    (tampered / "a-1.whl").write_bytes(b"wheel a, altered")
    (tampered / "b_c-1.whl").write_bytes(b"wheel b, altered")
    (good / "b_c-1.whl").write_bytes(b"wheel b")
    missing = gather_wheels(fake_lock(a=b"wheel a", b=b"wheel b"), ("a",), FolderSources(tampered, good), out)
    assert missing == ["a"]
    assert not (out / "a-1.whl").exists()
    assert (out / "b_c-1.whl").read_bytes() == b"wheel b"  # the later, verified source wins
    assert "rejected" in capsys.readouterr().out


def test_server_serves_byte_ranges_with_isolation_headers(tmp_path: Path) -> None:
    import threading
    import urllib.error
    import urllib.request

    (tmp_path / "model.onnx").write_bytes(bytes(range(256)) * 4)
    server = make_server(tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/model.onnx"
    try:
        whole = urllib.request.urlopen(url)
        assert whole.status == 200 and whole.headers["Accept-Ranges"] == "bytes"
        assert whole.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert "connect-src 'self'" in whole.headers["Content-Security-Policy"]
        part = urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=1000-"}))
        assert part.status == 206 and part.headers["Content-Range"] == "bytes 1000-1023/1024"
        assert part.read() == (bytes(range(256)) * 4)[1000:]
        middle = urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=10-19"}))
        assert middle.read() == bytes(range(10, 20))
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=5000-"}))
            raise AssertionError("a range past the end must be refused")
        except urllib.error.HTTPError as err:
            assert err.code == 416
    finally:
        server.shutdown()


def test_only_official_wheels_are_kept_in_the_official_cache(tmp_path: Path) -> None:
    sources = WheelSources(None)
    sources.cache = tmp_path / "official"
    built, downloaded = tmp_path / "built", tmp_path / "download"
    for folder in (built, downloaded):
        folder.mkdir()
        (folder / f"{folder.name}.whl").write_bytes(b"wheel")
    sources.extra.append(built)
    sources.keep(built / "built.whl")
    sources.keep(downloaded / "download.whl")
    assert sorted(p.name for p in sources.cache.iterdir()) == ["download.whl"]


def test_the_python_snapshot_is_reproducible_and_restores(tmp_path: Path) -> None:
    """Two snapshots of the shipped Pyodide are the same bytes, and Pyodide starts from one
    and runs Python (in Node, as the page does in a worker)."""
    import subprocess

    pyodide = NODE_MODULES / "pyodide"
    script = ROOT / "wasm" / "pyodide_snapshot.mjs"
    made = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for out in made:
        subprocess.run(["node", str(script), str(pyodide), str(out)], check=True, capture_output=True)
    assert made[0].read_bytes() == made[1].read_bytes()
    restore = tmp_path / "restore.mjs"
    restore.write_text(f"""
import fs from "node:fs";
const {{ loadPyodide }} = await import({str(pyodide / "pyodide.mjs")!r});
const py = await loadPyodide({{ indexURL: {str(pyodide) + "/"!r}, _loadSnapshot: fs.readFileSync({str(made[0])!r}) }});
console.log(py.runPython("import sys, json; json.dumps([sys.version_info[:2], sum(range(10))])"));
""")
    ran = subprocess.run(["node", str(restore)], check=True, capture_output=True, text=True)
    assert ran.stdout.strip().splitlines()[-1] == "[[3, 12], 45]"
