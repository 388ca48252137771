"""A 100 MP photo (the default input limit) through every tool with the CLI: each writes
its result or refuses before any work with one sentence naming its limit; never a
traceback. On CPython the budget is the computer's free memory, so the CLI takes photos
the page refuses (tests/e2e/test_every_tool_48mp_page.py is the page's side).

The photo is made here, not committed: scikit-image's astronaut repeated to 10000 x
10000 px. It is sharp and clean, so deblur and denoise measure no blur or noise and
leave it as it is, which keeps this test within CI's time; their tiled paths run on a
48 MP photo in the page test, and at 100 MP in ``bench/suite.py --sizes 100mp``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from darkroom import cli
from darkroom.tools import registry

SIDE = 10_000
REFUSAL = re.compile(r"darkroom: [A-Z][\w ]+ can take photos up to \d+ MP with the memory free on this computer "
                     r"\(.*\)\. Crop it, .*"
                     r"|darkroom: A \d+x\d+ photo upscaled x\d would be .* more than the \d+ MP this tool makes; "
                     r"crop it .*")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data

    tile = data.astronaut()
    reps = (-(-SIDE // tile.shape[0]), -(-SIDE // tile.shape[1]), 1)
    path = tmp_path_factory.mktemp("big") / "photo.jpg"
    Image.fromarray(np.tile(tile, reps)[:SIDE, :SIDE]).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def mask(tmp_path_factory):
    painted = np.zeros((SIDE, SIDE), np.uint8)
    painted[4500:5500, 4500:5500] = 255  # 1 % of the photo
    path = tmp_path_factory.mktemp("mask") / "mask.png"
    Image.fromarray(painted).save(path)
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("tool", sorted(registry()), ids=str)
def test_every_tool_takes_a_100mp_photo_or_refuses_it_up_front(tool, photo, mask, tmp_path, capsys):
    masks = [f"--{p.name}" for p in registry()[tool].params if p.kind == "mask"]
    out = tmp_path / ("out.jpg" if tool == "convert" else "out.png")
    code = cli.main([tool, str(photo), str(out), "--json", *(arg for flag in masks for arg in (flag, str(mask)))])
    printed = capsys.readouterr()
    if code == 0:
        provenance = json.loads(printed.out.strip().splitlines()[-1])
        assert provenance["input_size"] == [SIDE, SIDE]
        with Image.open(out) as written:
            assert written.size == tuple(provenance["output_size"])
        print(f"{tool}: {provenance['path']} in {provenance['timings_ms']['total'] / 1000:.1f} s")
        out.unlink()  # hundreds of MB: pytest keeps its last runs' temporary folders
    else:
        assert REFUSAL.fullmatch(printed.err.strip()), printed.err
        assert "Traceback" not in printed.err and not out.exists()
        print(f"{tool}: {printed.err.strip()}")
