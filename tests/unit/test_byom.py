"""Bring your own model: signature checks, and user models through the CLI.

The models here are stand-ins (tests/standins.py) with the published interface of the
model a tool expects (ISNet's for remove-background) that compute something simple and
known (a brightness mask), so the result can be checked exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from darkroom import byom, cli, models
from darkroom.byom import Signature, TensorRule
from darkroom.models import ModelError, TensorSpec
from darkroom.tools import registry
from standins import brightness_mask_model, identity_image_model, nearest_upscale_model

RB = registry()["remove-background"]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture()
def photo_file(tmp_path):
    """Dark background, a bright square subject."""
    pixels = np.full((48, 64, 3), 40, np.uint8)
    pixels[12:36, 16:48] = 230
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


def test_cli_runs_a_user_model_and_labels_it(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "my salient net.onnx"
    brightness_mask_model(model, side=None, extra_outputs=3)
    out = tmp_path / "mask.png"
    assert cli.main(["remove-background", str(photo_file), str(out), "--output", "mask",
                     "--model-file", str(model), "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sha = models.sha256_file(model)
    assert provenance["model"] == f"user:my_salient_net@{sha[:12]}"
    assert (provenance["path"], provenance["variant"], provenance["backend"]) == ("model", "user", "cpu")
    assert f"user:my_salient_net@{sha[:12]}" in provenance["label"]
    # Open H and W: the tool fed its default size, 1024, and says so.
    assert "The mask was computed at 1024 × 1024 and scaled to 64 × 48." in provenance["notes"]
    mask = np.asarray(Image.open(out))
    assert mask[20:28, 24:40].min() == 255 and mask[:8].max() == 0  # the square is the subject
    assert (cache / f"user-{sha}.onnx").read_bytes() == model.read_bytes()


def test_cli_refuses_a_model_with_the_wrong_signature(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "rgb-out.onnx"
    brightness_mask_model(model, out_channels=3)
    out = tmp_path / "out.png"
    assert cli.main(["remove-background", str(photo_file), str(out), "--model-file", str(model)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("darkroom: This model does not fit: mask 'mask' has 3 in dimension 1, not 1. "
                           "The tool needs inputs image: float32 [1, 3, H, W] — outputs mask: float32 [1, 1, H, W]")
    assert not out.exists() and not list(cache.glob("user-*"))


def test_cli_refuses_a_file_that_is_not_a_model(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "notes.onnx"
    model.write_text("not a model")
    assert cli.main(["remove-background", str(photo_file), str(tmp_path / "out.png"), "--model-file", str(model)]) == 1
    assert "notes.onnx is not a model onnxruntime can load" in capsys.readouterr().err


def test_an_altered_cached_copy_is_replaced_before_the_run(tmp_path, cache, photo_file, capsys):
    model = tmp_path / "net.onnx"
    brightness_mask_model(model)
    args = ["remove-background", str(photo_file), str(tmp_path / "out.png"), "--model-file", str(model), "--json"]
    assert cli.main(args) == 0
    copy = cache / f"user-{models.sha256_file(model)}.onnx"
    copy.write_bytes(copy.read_bytes()[:-10] + bytes(10))
    capsys.readouterr()
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["path"] == "model"
    assert copy.read_bytes() == model.read_bytes()


def test_a_user_model_that_fails_verification_is_not_run(tmp_path, cache, photo_file):
    """The engine's runtime checks the cached copy's sha256 like any model's."""
    import asyncio

    from darkroom import engine, imaging
    from darkroom.runtime import CpuRuntime, read_signature
    from darkroom.tiers import DEFAULT

    model = tmp_path / "net.onnx"
    brightness_mask_model(model)
    inputs, outputs = read_signature(model)
    user_file = byom.UserFile(model.name, "0" * 64, model.stat().st_size, inputs, outputs)
    spec = byom.user_spec(RB.id, RB.signature, [user_file])
    models.store_user_model(model, "0" * 64)  # stored under a sha256 it does not have
    result = asyncio.run(engine.run_tool(RB, imaging.decode(photo_file.read_bytes()), {"model": spec.id},
                                         runtime=CpuRuntime(), models={spec.id: spec}, tier=DEFAULT))
    assert result.provenance.path == "classical"
    assert "failed sha256 verification" in result.provenance.reason


# --- the signature check ------------------------------------------------------------

SIG = Signature(inputs=(TensorRule("image", "float32", (1, 3, "H", "W")),),
                outputs=(TensorRule("mask", "float32", (1, 1, "H", "W")), TensorRule("score", "float32", (1, None))),
                normalisation={}, sizes={"H": 512, "W": 512})


def t(name, *shape, dtype="float32"):
    return TensorSpec(name, tuple(shape), dtype)


def test_letters_bind_and_open_dimensions_take_the_tools_size():
    assert byom.check(SIG, (t("x", 1, 3, 320, 0),), (t("m", 1, 1, 0, 0), t("s", 1, 7))) == {"H": 320, "W": 512}


@pytest.mark.parametrize("inputs, outputs, problem", [
    ((t("x", 1, 3, 320, 320),), (t("m", 1, 1, 256, 320), t("s", 1, 7)),
     "mask 'm' has 256 in dimension 2, where H is 320"),
    ((t("x", 1, 4, 64, 64),), (t("m", 1, 1, 64, 64), t("s", 1, 7)), "image 'x' has 4 in dimension 1, not 3"),
    ((t("x", 1, 3, 64, 64, dtype="uint8"),), (t("m", 1, 1, 64, 64), t("s", 1, 7)), "image 'x' is uint8, not float32"),
    ((t("x", 3, 64, 64),), (t("m", 1, 1, 64, 64), t("s", 1, 7)), "image 'x' has 3 dimensions, not 4"),
    ((t("x", 1, 3, 64, 64),), (t("m", 1, 1, 64, 64),), "it has 1 output(s), the tool needs 2"),
    ((t("x", 1, 3, 64, 64), t("y", 1)), (t("m", 1, 1, 64, 64), t("s", 1, 7)), "it has 2 input(s), the tool needs 1"),
])
def test_mismatches_are_named(inputs, outputs, problem):
    with pytest.raises(ModelError) as caught:
        byom.check(SIG, inputs, outputs)
    message = str(caught.value)
    assert message.startswith(f"This model does not fit: {problem}.") and "\n" not in message


def test_extra_outputs_are_ignored_and_the_spec_is_concrete():
    spec = byom.user_spec("remove-background", SIG, [byom.UserFile("net.onnx", "ab" * 32, 1234,
                          (t("x", 1, 3, 0, 0),), (t("m", 1, 1, 0, 0), t("s", 1, 0), t("extra", 5)))])
    assert [o.name for o in spec.outputs] == ["m", "s"]
    assert spec.inputs[0].shape == (1, 3, 512, 512) and spec.outputs[0].shape == (1, 1, 512, 512)
    assert spec.outputs[1].shape == (1, 0)  # "any" stays open: nothing feeds it
    assert (spec.id, spec.variant, spec.files[0].name) == ("user:net@" + "ab" * 6, "user", f"user-{'ab' * 32}.onnx")


@pytest.mark.parametrize("filename, expected", [
    ("My Net (v2).onnx", "My_Net_v2_"), ("a/b/c.onnx", "c"), (".onnx", "model"),
])
def test_user_model_ids_are_clean(filename, expected):
    assert byom.user_model_id(filename, "f" * 64) == f"user:{expected}@{'f' * 12}"


def test_only_tools_with_a_signature_take_user_models():
    assert RB.resolve({"model": "user:net@0123456789ab"})["model"] == "user:net@0123456789ab"
    with pytest.raises(ValueError, match="or user:<your model>"):
        RB.resolve({"model": "nonsense"})
    find_faces = registry()["find-faces"]
    convert = registry()["convert"]
    assert convert.signature is None and "model" not in {p.name for p in convert.all_params()}
    assert find_faces.resolve({"model": "user:net@0123456789ab"})["model"].startswith("user:")


@pytest.mark.parametrize("tool_id", ["denoise", "deblur"])
def test_same_size_tools_run_a_users_model_tile_by_tile(tmp_path, cache, tool_id, capsys):
    """A stand-in with MAXIM's interface that returns its input: the result is the photo."""
    pixels = np.random.default_rng(5).integers(0, 256, (300, 520, 3), dtype=np.uint8)
    source, out, model = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "identity.onnx"
    Image.fromarray(pixels).save(source)
    identity_image_model(model)
    assert cli.main([tool_id, str(source), str(out), "--model-file", str(model), "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert provenance["model"].startswith("user:identity@") and provenance["path"] == "model"
    assert "Processed in 6 overlapping tiles, blended at the seams." in provenance["notes"]  # 256 px tiles
    assert np.abs(np.asarray(Image.open(out), dtype=np.int16) - pixels).max() <= 1


def test_every_tool_with_a_model_path_takes_user_models():
    takes = {tool.id for tool in registry().values() if tool.signature}
    assert takes == {tool.id for tool in registry().values() if tool.run_model}


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_measures_a_users_models_scale_and_runs_it(tmp_path, cache, factor, capsys):
    """A nearest-neighbour stand-in with an ESRGAN-style interface: every pixel becomes a block."""
    pixels = np.random.default_rng(6).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    source, out, model = tmp_path / "in.png", tmp_path / "out.png", tmp_path / f"nearest-x{factor}.onnx"
    Image.fromarray(pixels).save(source)
    nearest_upscale_model(model, factor=factor)
    assert cli.main(["upscale", str(source), str(out), "--scale", str(factor), "--model-file", str(model),
                     "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert provenance["model"].startswith(f"user:nearest-x{factor}@") and provenance["path"] == "model"
    np.testing.assert_array_equal(np.asarray(Image.open(out)), pixels.repeat(factor, 0).repeat(factor, 1))


def test_a_users_x4_upscaler_makes_x2_by_reducing_each_tile(tmp_path, cache, capsys):
    source, out, model = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "nearest-x4.onnx"
    rows, columns = np.mgrid[0:40, 0:60]
    pixels = np.stack([rows * 6, columns * 4, rows + columns], axis=-1).astype(np.uint8)  # smooth ramps
    Image.fromarray(pixels).save(source)
    nearest_upscale_model(model, factor=4)
    assert cli.main(["upscale", str(source), str(out), "--scale", "2", "--model-file", str(model), "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert provenance["path"] == "model" and Image.open(out).size == (120, 80)
    assert "The model enlarges x4; each tile was reduced to x2 with a Lanczos filter." in provenance["notes"]
    # On smooth ramps, x4 nearest reduced by half is x2 nearest to within a grey level or two.
    repeated = pixels.repeat(2, 0).repeat(2, 1).astype(int)
    assert np.mean(np.abs(np.asarray(Image.open(out)).astype(int) - repeated)) < 2


def test_a_users_upscaler_too_small_for_the_scale_falls_back_and_says_why(tmp_path, cache, capsys):
    source, out, model = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "nearest.onnx"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(source)
    nearest_upscale_model(model, factor=2)
    assert cli.main(["upscale", str(source), str(out), "--scale", "4", "--model-file", str(model), "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert provenance["path"] == "classical" and Image.open(out).size == (240, 160)
    assert "it enlarges x2, which cannot make x4; choose scale 2 to use it" in provenance["reason"]


# A model in two parts, shaped like CLIP's encoders: an image one and a text one.
IMAGE_PART = Signature(inputs=(TensorRule("pixels", "float32", (1, 3, 224, 224)),),
                       outputs=(TensorRule("embedding", "float32", (1, "D")),), normalisation={"layout": "NCHW"})
TEXT_PART = Signature(inputs=(TensorRule("tokens", "int64", ("N", 77)),),
                      outputs=(TensorRule("embedding", "float32", ("N", "D")),), normalisation={"layout": "NCHW"})
PARTS = byom.Parts({"image": IMAGE_PART, "text": TEXT_PART})
VISION = byom.UserFile("vision.onnx", "1" * 64, 10, (t("pixel_values", 0, 3, 224, 224),), (t("image_embeds", 0, 512),))
TEXT = byom.UserFile("text.onnx", "2" * 64, 20, (t("input_ids", 0, 77, dtype="int64"),), (t("text_embeds", 0, 512),))


@pytest.mark.parametrize("order", [(VISION, TEXT), (TEXT, VISION)])
def test_the_files_of_a_model_in_parts_are_matched_to_the_parts_they_fit(order):
    spec = byom.user_spec("tag", PARTS, list(order))
    assert list(spec.parts) == ["image", "text"]
    assert spec.parts["image"].files[0].sha256 == "1" * 64 and spec.parts["text"].inputs[0].name == "input_ids"
    assert spec.id.startswith("user:vision@") and spec.parts["text"].id == f"{spec.id}/text"
    assert [f.name for f in spec.files] == ["user-" + "1" * 64 + ".onnx", "user-" + "2" * 64 + ".onnx"]
    assert byom.user_spec("tag", PARTS, [VISION, TEXT]).id == spec.id  # the order picked does not matter


def test_a_model_in_parts_needs_one_file_a_part_and_says_which_part_nothing_fits():
    with pytest.raises(ModelError, match=r"This model comes in 2 files \(image, text\); you picked 1."):
        byom.user_spec("tag", PARTS, [VISION])
    vision2 = byom.UserFile("vision2.onnx", "3" * 64, 1, VISION.inputs, VISION.outputs)
    with pytest.raises(ModelError, match=r"No file fits the text part .*vision.onnx: tokens 'pixel_values' is float32, "
                                         r"not int64; vision2.onnx: tokens 'pixel_values' is float32, not int64."):
        byom.user_spec("tag", PARTS, [VISION, vision2])
    with pytest.raises(ModelError, match="This tool takes one model file, not 2."):
        byom.user_spec("remove-background", SIG, [VISION, TEXT])


def test_the_engine_runs_each_part_of_a_model_by_name():
    import asyncio

    from darkroom import engine, imaging
    from darkroom.runtime import Session
    from darkroom.tiers import DEFAULT, Attempt
    from darkroom.tool import Tool

    spec = byom.user_spec("parts-demo", PARTS, [VISION, TEXT])
    ran = []

    class PartsRuntime:
        host = "test"

        def plan(self, candidates, tier):
            return [Attempt(c, "cpu") for c in candidates]

        async def load(self, part, backend):
            return Session(part.id, backend, 0.0)

        async def run(self, session, feeds, outputs):
            ran.append((session.model_id, tuple(feeds), tuple(outputs)))
            return {name: np.zeros(1, np.float32) for name in outputs}

        async def release(self, session):
            pass

    async def run_model(spec, infer, pixels, params, progress):
        await infer({"input_ids": 0}, part="text")
        await infer({"pixel_values": 0}, part="image")
        return pixels

    tool = Tool(id="parts-demo", title="Parts", description="", params=(), models=(), group="Analyse",
                classical=lambda pixels, params: pixels, run_model=run_model, signature=PARTS)
    image = imaging.Decoded(np.zeros((4, 4, 3), np.uint8), "PNG", ())
    result = asyncio.run(engine.run_tool(tool, image, {"model": spec.id}, runtime=PartsRuntime(),
                                         models={spec.id: spec}, tier=DEFAULT))
    assert result.provenance.model == spec.id and result.provenance.path == "model"
    assert ran == [(f"{spec.id}/text", ("input_ids",), ("text_embeds",)),
                   (f"{spec.id}/image", ("pixel_values",), ("image_embeds",))]


def test_a_rule_may_allow_several_dtypes_and_says_so():
    rule = byom.TensorRule("timestep", ("int64", "float32"), (1,))
    signature = byom.Signature(inputs=(rule,), outputs=(), normalisation={})
    assert rule.describe() == "timestep: int64 or float32 [1]"
    for dtype in ("int64", "float32"):
        byom.check(signature, (TensorSpec("t", (1,), dtype),), ())
    with pytest.raises(ModelError, match="timestep 't' is float16, not int64 or float32"):
        byom.check(signature, (TensorSpec("t", (1,), "float16"),), ())


def test_the_page_learns_each_user_model_slot_of_a_tool():
    slots = registry()["generate-background"].to_dict()["user_models"]
    assert set(slots) == {"model", "generator"}
    assert slots["model"]["parts"] == [] and slots["generator"]["parts"] == ["text", "unet", "vae"]
    assert slots["model"]["tiers"] == ["lite", "standard", "pro"] and slots["generator"]["tiers"] == ["pro"]
    assert slots["generator"]["needs"].startswith("text part: inputs token ids: int32 or int64 [1, S]")
    assert registry()["tag"].to_dict()["user_models"]["model"]["parts"] == ["image", "text"]
    assert registry()["convert"].to_dict()["user_models"] == {}
