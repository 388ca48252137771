"""Benchmark: background removal in the page (WASM) and in the CLI, 1 MP and 12 MP.

    .venv/bin/python bench/skeleton.py [--runs 3]

Prints, per photo size: Pyodide boot, model load, inference and end-to-end times in
headless Chromium (median of warm runs; the first, cold run is shown apart), peak
memory of all Chromium processes (sum of PSS, sampled every 50 ms), and the CLI's
wall time. A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import build  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import make_server  # noqa: E402

SIZES = {"1024x1024": (1024, 1024), "12 MP (4000x3000)": (4000, 3000)}

RUN = """async ([b64, params]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const started = performance.now();
  const { provenance } = await window.darkroom.run('remove-background', new Blob([bytes]), params);
  return { wallMs: performance.now() - started, provenance };
}"""


def photo(size: tuple[int, int]) -> bytes:
    """A real photograph (scikit-image's astronaut) resized to ``size``, as JPEG."""
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)
    path = Path(tempfile.mkdtemp()) / "photo.jpg"
    image.save(path, quality=90)
    return path.read_bytes()


PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def pss_mb(pid: int) -> float:
    """Proportional set size of one process in MB (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MB (0 once it has gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_MB
    except (OSError, IndexError, ValueError):
        return 0.0


def _parent(pid: str) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def is_page_renderer(cmd: str) -> bool:
    """Whether a Chromium process (by its command line) renders web pages: not the browser,
    GPU or utility processes, and not Chromium's own UI (``--top-chrome-webui``, a
    renderer each new browser context starts besides the page's)."""
    return "--type=renderer" in cmd and "--top-chrome-webui" not in cmd


def chromium_processes() -> dict[int, str]:
    """pid -> cmdline of every Chromium process started by this Python process (other
    Chromiums on the machine, e.g. a concurrent test run, are not counted)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                children.setdefault(_parent(proc.name), []).append(int(proc.name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = {}, [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "chromium" in cmdline:
                found[child] = cmdline
    return found


class ChromiumMemory:
    """Peak of the summed PSS of Chromium's processes, sampled in a thread.

    Reading PSS walks every page of a process (about a quarter of a second of kernel
    time for 2 GB, which on 2 cores slows the very run it measures), so the cheap RSS is
    sampled every 50 ms and PSS is read only when the RSS total reaches a new high (3 %
    over the last one read); the process list is refreshed every second. Subclasses
    choose the processes (``processes``) and what to record from a reading (``record``).
    """

    GROWTH = 1.03

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def processes(self) -> dict[int, str]:
        return chromium_processes()

    def record(self, pss: dict[int, float], procs: dict[int, str]) -> None:
        self.peak_mb = max(self.peak_mb, sum(pss.values()))

    def _sample(self) -> None:
        procs: dict[int, str] = {}
        listed = high = 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed > 1.0:
                procs, listed = self.processes(), time.monotonic()
            rss = sum(rss_mb(pid) for pid in procs)
            if rss > high * self.GROWTH:
                high = rss
                self.record({pid: pss_mb(pid) for pid in procs}, procs)
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bench_page(browser, url: str, jpeg: bytes, runs: int) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(600_000)
    with ChromiumMemory() as memory:
        page.goto(url)
        hello = page.evaluate("window.darkroom.ready")
        payload = [base64.b64encode(jpeg).decode(), {}]
        cold = page.evaluate(RUN, payload)
        warm = [page.evaluate(RUN, payload) for _ in range(runs)]
    context.close()
    median = lambda key: statistics.median(r["provenance"]["timings_ms"].get(key, 0) for r in warm)  # noqa: E731
    return {
        "boot_ms": hello["timings"]["totalMs"],
        "pyodide_ms": hello["timings"]["pyodideMs"],
        "model": cold["provenance"]["model"],
        "load_ms": cold["provenance"]["timings_ms"]["load"],
        "cold_total_ms": cold["wallMs"],
        "infer_ms": median("infer"),
        "decode_ms": median("decode"),
        "warm_total_ms": statistics.median(r["wallMs"] for r in warm),
        "peak_mb": memory.peak_mb,
    }


def bench_cli(jpeg: bytes) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.jpg", Path(tmp) / "out.png"
        source.write_bytes(jpeg)
        started = time.perf_counter()
        darkroom = ROOT / ".venv" / "bin" / "darkroom"
        out = subprocess.run([str(darkroom), "remove-background", str(source), str(target), "--json"],
                             check=True, capture_output=True, text=True)
        wall = (time.perf_counter() - started) * 1000
    provenance = json.loads(out.stdout.strip().splitlines()[-1])
    return {"wall_ms": wall, "model": provenance["model"], "infer_ms": provenance["timings_ms"]["infer"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="warm runs per size (default 3)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    build.build()
    server = make_server(DIST)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, size in SIZES.items():
            jpeg = photo(size)
            rows.append((name, bench_page(browser, url, jpeg, args.runs), bench_cli(jpeg)))
        browser.close()
    server.shutdown()

    print(f"\nbackground removal, median of {args.runs} warm runs (cold = first run, with model download + session)")
    header = ("photo", "boot s", "pyodide s", "model", "load s", "cold s", "decode s", "infer s", "warm s", "peak MB",
              "CLI model", "CLI infer s", "CLI wall s")
    print(" | ".join(header))
    for name, page, cli in rows:
        print(" | ".join([
            name, f"{page['boot_ms'] / 1000:.2f}", f"{page['pyodide_ms'] / 1000:.2f}", page["model"],
            f"{page['load_ms'] / 1000:.2f}", f"{page['cold_total_ms'] / 1000:.2f}", f"{page['decode_ms'] / 1000:.2f}",
            f"{page['infer_ms'] / 1000:.2f}", f"{page['warm_total_ms'] / 1000:.2f}", f"{page['peak_mb']:.0f}",
            cli["model"], f"{cli['infer_ms'] / 1000:.2f}", f"{cli['wall_ms'] / 1000:.2f}",
        ]))


if __name__ == "__main__":
    main()
