"""Benchmark: one page runs every suite tool in turn, round after round, and its memory
is read after each round.

    .venv/bin/python bench/soak.py [--rounds 5] [--size 12mp] [--cases upscale,deblur,...]

Every tool of ``bench/suite.py`` (the painted-mask one with its mask) runs on the same
photo size in one page, ``--rounds`` times. After each round, with nothing running, it
prints the summed PSS of all of Chromium's processes and the growth over round 1; a
page whose memory grows round after round (not only in the first) leaks. Failed runs
are printed with their error. A benchmark, not a test: it prints numbers and asserts
nothing.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import build  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import make_server  # noqa: E402
from skeleton import chromium_processes, pss_mb  # noqa: E402
from suite import CASES, SIZES, photo, with_masks  # noqa: E402

#: Like suite.py's RUN, but a failed run is reported, not thrown.
RUN = """async ([tool, b64, params]) => {
  const decode = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  for (const [name, value] of Object.entries(params)) {
    if (value && value.png) params[name] = new Blob([decode(value.png)], { type: "image/png" });
  }
  const started = performance.now();
  try {
    const { provenance } = await window.darkroom.run(tool, new Blob([decode(b64)]), params);
    return { wallMs: performance.now() - started, path: provenance.path };
  } catch (err) {
    return { wallMs: performance.now() - started, error: err.message };
  }
}"""


def settled_pss_mb(readings: int = 3, gap_s: float = 1.0) -> float:
    """Chromium's summed PSS once a round has ended: the last of a few readings, so the
    garbage of the round's last run has had a moment to go."""
    total = 0.0
    for _ in range(readings):
        time.sleep(gap_s)
        total = sum(pss_mb(pid) for pid in chromium_processes())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", default="12mp", choices=sorted(SIZES))
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    build.build()
    # A copy: a rebuild while the soak runs (it takes half an hour) must not change what it serves.
    served = Path(tempfile.mkdtemp()) / "dist"
    shutil.copytree(DIST, served)
    server = make_server(served)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    cases = args.cases.split(",")
    inputs = {case: (base64.b64encode(photo(case, SIZES[args.size])).decode(),
                     with_masks(CASES[case][1], SIZES[args.size])) for case in cases}
    print("round | runs failed | seconds | Chromium PSS MB | growth over round 1", flush=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        page.set_default_timeout(3_600_000)
        page.goto(url)
        page.evaluate("window.darkroom.ready")
        first = None
        for round_number in range(1, args.rounds + 1):
            started, failed = time.perf_counter(), []
            for case in cases:
                b64, params = inputs[case]
                reply = page.evaluate(RUN, [CASES[case][0], b64, params])
                if "error" in reply:
                    failed.append(f"{case}: {reply['error']}")
            pss = settled_pss_mb()
            first = first or pss
            print(f"{round_number} | {len(failed)} | {time.perf_counter() - started:.0f} | {pss:.0f} | "
                  f"{(pss / first - 1) * 100:+.1f} %", flush=True)
            for failure in failed:
                print(f"    failed: {failure}", flush=True)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
