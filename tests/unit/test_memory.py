"""Photos too large for a tool's memory are refused up front, in words; running out of
memory anyway is a handled failure, and the next run goes on as usual."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from darkroom import cli, memory, models
from darkroom.engine import ToolError
from darkroom.host import ImageFile, pillow_decode, run_file
from darkroom.memory import Budget
from darkroom.runtime import CpuRuntime
from darkroom.tiers import DEFAULT as DEFAULT_TIER
from darkroom.tool import Footprint, Output, Tool

BUDGET = Budget(100 * 1_000_000, "in this test", "Crop it, or use darkroom {tool}.")


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 80, 120)).save(out, "PNG")
    return out.getvalue()


def in_memory(data: bytes) -> ImageFile:
    async def read() -> bytes:
        return data

    return ImageFile(len(data), read)


TEN_BYTES = Footprint(classical=10.0)


def stand_in(classical, footprint: Footprint | None = TEN_BYTES) -> Tool:
    return Tool(id="stand-in", title="Stand-in", description="d", params=(), models=(), group="Retouch",
                classical=classical, footprint=footprint, library="numpy")


def brighten(pixels: np.ndarray, params: dict) -> Output:
    return Output(np.minimum(pixels.astype(np.uint16) + 10, 255).astype(np.uint8))


def run(tool: Tool, data: bytes, budget: Budget | None = BUDGET, decode=pillow_decode):
    return asyncio.run(run_file(tool, in_memory(data), {}, runtime=None, models={}, tier=DEFAULT_TIER,
                                memory=budget, decode=decode))


def test_the_refusal_names_the_tools_limit_the_photos_size_and_what_to_do():
    sentence = memory.too_large("Portrait blur", "portrait-blur", 48_000_000, 130.0, Budget(
        3 * 2**30, "in this browser", "Crop it, or run it with the CLI (darkroom {tool})."))
    assert sentence == ("Portrait blur can take photos up to 25 MP in this browser (it needs about 130 bytes a "
                        "pixel); this one is 48 MP. Crop it, or run it with the CLI (darkroom portrait-blur).")


def test_a_photo_too_large_for_the_tool_is_refused_from_its_header_before_decoding():
    async def no_decode(data, max_pixels, max_bytes):
        raise AssertionError("decoded a photo that was going to be refused")

    with pytest.raises(ToolError) as refused:
        run(stand_in(brighten), png(4000, 3000), decode=no_decode)  # 12 MP x 10 B > 100 MB
    assert str(refused.value) == ("Stand-in can take photos up to 10 MP in this test (it needs about 10 bytes a "
                                  "pixel); this one is 12 MP. Crop it, or use darkroom stand-in.")


def test_a_photo_that_fits_runs():
    finished = run(stand_in(brighten), png(3000, 3000))  # 9 MP x 10 B = 90 MB
    assert finished.result.pixels[0, 0].tolist() == [50, 90, 130]


def test_each_tool_is_held_to_its_own_footprint():
    light = stand_in(brighten, Footprint(classical=1.0))
    assert run(light, png(4000, 3000)).result.provenance.output_size == (4000, 3000)


def test_running_out_of_memory_is_a_sentence_and_the_next_run_goes_on():
    def exhausting(pixels, params):
        raise MemoryError

    with pytest.raises(ToolError) as failed:
        run(stand_in(exhausting), png(300, 200))
    assert str(failed.value) == "Stand-in ran out of memory in this test on this 0.1 MP photo. Crop it, or use " \
                                "darkroom stand-in."
    assert failed.value.__cause__ is None and failed.value.__suppress_context__  # frames let go
    assert run(stand_in(brighten), png(300, 200)).result.pixels.shape == (200, 300, 3)


class OutOfMemoryRuntime(CpuRuntime):
    """Loads as usual; every inference runs out of memory on the Python side."""

    async def run(self, session, feeds, outputs):
        raise MemoryError


def test_a_model_path_out_of_memory_falls_back_to_the_classical_path_and_says_so(tmp_path):
    from darkroom.tools import registry

    tool = registry()["remove-background"]
    manifest = models.load_manifest()
    finished = asyncio.run(run_file(tool, in_memory(png(64, 48)), {"model": "isnet-fp16"},
                                    runtime=OutOfMemoryRuntime(), models=manifest, tier=DEFAULT_TIER))
    provenance = finished.result.provenance
    assert provenance.path == "classical"
    assert provenance.fallback_chain == ["isnet-fp16@cpu ran out of memory"]


def test_the_model_path_is_skipped_when_only_it_does_not_fit():
    from darkroom.tools import registry

    tool = registry()["remove-background"]
    heavy_model = Tool(**{**{f: getattr(tool, f) for f in ("id", "title", "description", "params", "models",
                                                            "classical", "group", "run_model", "signature")},
                          "footprint": Footprint(classical=5.0, model=50.0)})
    finished = asyncio.run(run_file(heavy_model, in_memory(png(4000, 3000)), {"output": "mask"},
                                    runtime=CpuRuntime(), models=models.load_manifest(), tier=DEFAULT_TIER,
                                    memory=BUDGET))
    provenance = finished.result.provenance
    assert provenance.path == "classical"
    assert provenance.reason.startswith("The model path needs more memory than there is in this test for a 12 MP "
                                        "photo. Ran the classical fallback instead.")


def test_the_cli_refuses_with_the_same_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "available_on_this_computer", lambda: 1_000_000)
    source = tmp_path / "big.png"
    source.write_bytes(png(2000, 1000))
    assert cli.main(["portrait-blur", str(source), str(tmp_path / "out.png")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("darkroom: Portrait blur can take photos up to ") and "this one is 2.0 MP" in error
    assert error.rstrip().endswith("Crop it, or close other programs and try again.")
    assert not (tmp_path / "out.png").exists()
