"""A static server for ``dist/`` with the headers the page needs (site_build.headers);
single byte ranges let an interrupted model download resume.
"""

from __future__ import annotations

import http.server
import io
import os
import re
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from site_build.headers import HEADERS


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers WASM threads need (cross-origin isolation)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                      ".json": "application/json", ".webmanifest": "application/manifest+json"}

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        """Serve a single ``Range: bytes=N-[M]``, so an interrupted model download resumes."""
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start, end = int(match[1]), min(int(match[2] or size - 1), size - 1)
        if start > end:
            self.send_error(416, "Range Not Satisfiable")
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            body = io.BytesIO(fh.read(end - start + 1))
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return body

    def end_headers(self) -> None:
        """Add the isolation, CSP, range and no-cache headers to every response."""
        self.send_header("Accept-Ranges", "bytes")
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Log requests only when ``$DARKROOM_SERVE_LOG`` is set (tests and benchmarks stay quiet)."""
        if os.environ.get("DARKROOM_SERVE_LOG"):
            super().log_message(format, *args)


def make_server(root: Path, port: int = 0, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """A server for ``root`` on ``host:port`` (port 0 picks a free one); not yet started."""
    return http.server.ThreadingHTTPServer((host, port), partial(Handler, directory=str(root)))


def serve(root: Path, port: int) -> None:
    """Serve ``root`` on 127.0.0.1:``port`` until Ctrl+C."""
    server = make_server(root, port)
    print(f"Darkroom is at http://127.0.0.1:{server.server_address[1]}/  (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
