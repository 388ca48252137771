"""Benchmark: ISNet in the page on a plain static host against the dev server.

    .venv/bin/python bench/static_host.py [--runs 5] [--no-build]

dist/ is served twice at once: by the dev server (site_build/server.py sends COOP,
COEP and the CSP itself) and by Python's plain http.server, which sends no headers, so
there the service worker adds them (the page reloads once for that). Each host gets a
fresh headless Chromium context; after one warm-up run of background removal (model
download, session), ``--runs`` runs alternate between the two hosts on a 1024 x 1024
photo, so both see the same machine load. Prints, per host: cross-origin isolation,
WASM threads, page loads, and the median and spread of ISNet inference
(``provenance.timings_ms.infer``) and of the whole run. A benchmark, not a test: it
prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import build  # noqa: E402
from e2e.pagekit import CHROMIUM, CHROMIUM_ARGS, main_frame_loads, make_plain_server, open_app  # noqa: E402
from site_build.common import DIST  # noqa: E402
from site_build.server import make_server  # noqa: E402
from skeleton import RUN, photo  # noqa: E402

PHOTO_SIZE = (1024, 1024)


def started(server) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per host (default 5)")
    parser.add_argument("--no-build", action="store_true", help="use dist/ as it is")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if not args.no_build:
        build.build()
    servers = {"dev server": make_server(DIST), "plain http.server": make_plain_server(DIST)}
    b64 = base64.b64encode(photo(PHOTO_SIZE)).decode()
    pages, loads, timings = {}, {}, {host: [] for host in servers}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for host, server in servers.items():
            context = browser.new_context()
            loads[host] = main_frame_loads(context)
            pages[host], _ = open_app(context, started(server))
            pages[host].evaluate(RUN, [b64, {}])  # warm-up: model download and session
        for _ in range(args.runs):
            for host, page in pages.items():
                reply = page.evaluate(RUN, [b64, {}])
                timings[host].append((reply["provenance"]["timings_ms"]["infer"], reply["wallMs"],
                                      reply["provenance"]["model"]))
        probes = {host: page.evaluate("window.darkroom.probe()") for host, page in pages.items()}
        browser.close()
    for server in servers.values():
        server.shutdown()

    print(f"\nISNet background removal, {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, {args.runs} runs per host, alternating")
    print("host | isolated | WASM threads | page loads | model | infer s (median, min-max) | run s (median)")
    for host, rows in timings.items():
        infer = [row[0] / 1000 for row in rows]
        wall = [row[1] / 1000 for row in rows]
        probe = probes[host]
        print(" | ".join([host, "yes" if probe["crossOriginIsolated"] else "no", str(probe["wasm"]["numThreads"]),
                          str(len(loads[host])), rows[0][2],
                          f"{statistics.median(infer):.2f} ({min(infer):.2f}-{max(infer):.2f})",
                          f"{statistics.median(wall):.2f}"]))


if __name__ == "__main__":
    main()
