"""A 48 MP photo through every tool in one page: each gives its result or refuses up
front with its own limit, never "Something went wrong"; a small photo then runs as usual.

Each tool runs with its defaults (remove-object with a painted mask, as it needs one)
on the same photo, in turn, so a tool that leaves the heap worse for the next shows
up as the next one failing.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from pagekit import run_hook

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 8000, 6000
# A refusal names the tool's limit and what to do instead: its memory in this browser,
# or the largest output it makes.
REFUSAL = re.compile(r"[A-Z][\w ]+ can take photos up to \d+ MP in this browser \(.*\)\. Crop it, .*"
                     r"|A \d+x\d+ photo upscaled x\d would be .* more than the \d+ MP this tool makes; crop it .*")

# Keeps the 48 MP photo in the page once; each run then returns its label and sizes,
# never its (hundreds of MB of) pixels.
STASH = """async (b64) => { window.__photo = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]); }"""
RUN_STASHED = """async ([tool, params, maskB64]) => {
  if (maskB64) params.mask = new Blob([Uint8Array.from(atob(maskB64), (c) => c.charCodeAt(0))], { type: "image/png" });
  try {
    const { blob, provenance } = await window.darkroom.run(tool, window.__photo, params);
    return { bytes: blob.size, provenance };
  } catch (err) { return { error: err.message }; }
}"""


def photo() -> bytes:
    """scikit-image's astronaut enlarged twice and repeated to 48 MP, as a JPEG: real
    edges, skin and texture, with the mild softness deblur finds in real photos (one
    enlargement to 48 MP would blur it by about 8 px, and deblur's cost grows with it)."""
    from skimage import data

    soft = np.asarray(Image.fromarray(data.astronaut()).resize((1024, 1024), Image.Resampling.BICUBIC))
    tiled = np.tile(soft, (-(-HEIGHT // 1024), -(-WIDTH // 1024), 1))[:HEIGHT, :WIDTH]
    out = io.BytesIO()
    Image.fromarray(tiled).save(out, "JPEG", quality=90)
    return out.getvalue()


def painted_mask() -> bytes:
    """remove-object's mask: a block of 1 % of the photo over the astronaut's shoulder patch."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[int(HEIGHT * 0.6):int(HEIGHT * 0.7), int(WIDTH * 0.45):int(WIDTH * 0.55)] = 255
    out = io.BytesIO()
    Image.fromarray(mask).save(out, "PNG")
    return out.getvalue()


def test_every_tool_takes_a_48mp_photo_or_refuses_it_up_front(app):
    import base64

    page, _ = app
    catalog = page.evaluate("async () => (await window.darkroom.ready).build.catalog.tools")
    page.evaluate(STASH, base64.b64encode(photo()).decode())
    mask = base64.b64encode(painted_mask()).decode()
    outcomes = {}
    for tool in catalog:
        needs_mask = any(p["kind"] == "mask" for p in tool["params"])
        reply = page.evaluate(RUN_STASHED, [tool["id"], {}, mask if needs_mask else None])
        if "error" in reply:
            outcomes[tool["id"]] = reply["error"]
            assert REFUSAL.fullmatch(reply["error"]), f"{tool['id']}: {reply['error']}"
        else:
            provenance = reply["provenance"]
            outcomes[tool["id"]] = f"{provenance['path']} in {provenance['timings_ms']['total'] / 1000:.1f} s"
            assert provenance["input_size"] == [WIDTH, HEIGHT]
            assert reply["bytes"] > 0
    print("\n".join(f"{tool}: {outcome}" for tool, outcome in outcomes.items()))
    assert len(outcomes) == len(catalog) >= 12
    # Refusing everything would pass the loop: the lighter tools must do the work.
    assert sum("error" not in o and not REFUSAL.fullmatch(o) for o in outcomes.values()) >= 10
    small = run_hook(page, photo_small(), {}, tool="remove-background")
    assert small["image"].size == (64, 48), small.get("error")


def photo_small() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 90)).save(out, "PNG")
    return out.getvalue()
