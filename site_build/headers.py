"""The response headers the page needs from whoever serves it, in one place.

Cross-origin isolation lets WASM use threads; the Content-Security-Policy keeps every
byte on this origin. The dev server sends these, the service worker adds them to what
it serves (so any static host will do), and the host configs in deploy/ must match.
"""

from __future__ import annotations

# Nothing but this origin may be fetched, scripted or framed, so no script can send an
# image anywhere; WASM compilation needs 'wasm-unsafe-eval', result previews need blob:.
POLICY_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "connect-src 'self' blob:",  # blob: is this page's own memory, never the network
    "img-src 'self' blob: data:",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(POLICY_DIRECTIVES)
# Browsers ignore these directives in a <meta> policy (and warn about them).
_HEADER_ONLY = ("frame-ancestors", "report-uri", "sandbox")
META_CONTENT_SECURITY_POLICY = "; ".join(d for d in POLICY_DIRECTIVES if d.split()[0] not in _HEADER_ONLY)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
