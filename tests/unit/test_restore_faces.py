"""restore-faces: the crop geometry and feathered paste, the classical clean-up measured
against a clean photo, the model path with stand-ins of GFPGAN's ONNX interface, a
photo without faces, and the CLI."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from PIL import Image

from darkroom import byom, cli, engine, imaging, models
from darkroom.models import ModelError
from darkroom.runtime import CpuRuntime, add_user_model
from darkroom.tiers import DEFAULT
from darkroom.tools import registry
from darkroom.tools.restore_faces import cleanup, geometry, run_model
from darkroom.tools.restore_faces.geometry import Square
from helpers import psnr, run_tool
from standins import colour_matrix_face_model

TOOL = registry()["restore-faces"]
#: The astronaut's face, checked by eye (as in test_find_faces): brows to chin, cheek to cheek.
FACE = (178, 81, 272, 175)


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def small_astronaut(astronaut):
    """256 x 256: the cascade searches it four times faster and finds only her face."""
    return np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.Resampling.LANCZOS))


def add_noise(pixels, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(pixels + rng.normal(0, sigma, pixels.shape)), 0, 255).astype(np.uint8)


def outside(squares, shape) -> np.ndarray:
    """bool (H, W): the pixels no square covers."""
    free = np.ones(shape[:2], bool)
    for square in squares:
        x0, y0, x1, y1 = square.inside(shape[1], shape[0])
        free[y0:y1, x0:x1] = False
    return free


def squares_of(result) -> list[Square]:
    return [geometry.face_square(face["box"]) for face in result.data["faces"]]


def face_found(result, scale: float = 1.0) -> list:
    """The found box that is the astronaut's face (at 512 px the cascade also takes a
    patch of her suit), in a photo of her scaled by ``scale``."""
    face = [v * scale for v in FACE]
    (box,) = [f["box"] for f in result.data["faces"] if f["box"][0] < face[2] and face[0] < f["box"][2]
              and f["box"][1] < face[3] and face[1] < f["box"][3]]
    return box


# --- geometry ----------------------------------------------------------------------


def test_the_crop_is_a_square_twice_the_box_around_its_centre():
    square = geometry.face_square([100, 60, 150, 130])  # 50 x 70, centre (125, 95)
    assert square == Square(55, 25, 140)
    assert square.inside(1000, 1000) == (55, 25, 195, 165)
    assert geometry.face_square([10, 10, 20, 20], enlarge=3.0) == Square(0, 0, 30)


def test_a_crop_past_the_edge_is_clamped_and_mirrored():
    pixels = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    square = geometry.face_square([0, 0, 40, 40])
    assert square == Square(-20, -20, 80)
    assert square.inside(120, 100) == (0, 0, 60, 60)
    crop = geometry.take(pixels, square)
    assert crop.shape == (80, 80, 3)
    np.testing.assert_array_equal(crop[20:, 20:], pixels[:60, :60])
    np.testing.assert_array_equal(crop[:20, 20:], pixels[:20, :60][::-1])  # mirrored at the top edge
    np.testing.assert_array_equal(crop[20:, :20], pixels[:60, :20][:, ::-1])
    # A square far bigger than a tiny photo still comes back whole.
    assert geometry.take(pixels[:5, :7], geometry.face_square([1, 1, 6, 6], enlarge=6)).shape == (30, 30, 3)


def test_feathering_is_whole_in_the_middle_and_soft_at_the_edge():
    weight = geometry.feather(100)
    assert weight.shape == (100, 100) and weight.dtype == np.float32
    assert weight[20:80, 20:80].min() == 1.0  # the face box (middle half) and a margin
    assert 0 < weight[0, 0] < weight[0, 50] < 0.01
    row = weight[50, :50]
    assert np.all(np.diff(row) >= 0)  # rises from the edge, no crease
    np.testing.assert_array_equal(weight, weight[::-1, ::-1])


@pytest.mark.parametrize("square", [Square(20, 10, 30), Square(-8, 40, 30)], ids=["inside", "past the edge"])
def test_the_paste_changes_the_square_only(square):
    photo = np.random.default_rng(1).integers(0, 256, (60, 80, 4), dtype=np.uint8)
    restored = 255 - geometry.take(photo[..., :3], square)
    out = geometry.paste(photo, square, restored, 1.0)
    free = outside([square], photo.shape)
    np.testing.assert_array_equal(out[free], photo[free])  # outside: exactly the same
    np.testing.assert_array_equal(out[..., 3], photo[..., 3])  # alpha kept
    x0, y0, x1, y1 = square.inside(80, 60)
    changed = np.any(out[y0:y1, x0:x1, :3] != photo[y0:y1, x0:x1, :3], axis=-1)
    assert changed.mean() > 0.95
    centre_x, centre_y = square.x0 + 15, square.y0 + 15
    np.testing.assert_array_equal(out[centre_y, centre_x, :3], 255 - photo[centre_y, centre_x, :3])  # weight 1
    np.testing.assert_array_equal(geometry.paste(photo, square, restored, 0.0), photo)


# --- the classical path ------------------------------------------------------------


def test_classical_cleans_the_noisy_astronauts_face_and_nothing_else(astronaut):
    """At this noise the cascade misses her face on the photo itself and finds it on the
    median-filtered copy, and says so."""
    noisy = add_noise(astronaut, 20)
    result = run_tool("restore-faces", noisy, {})  # no model given: the classical path runs
    x0, y0, x1, y1 = (round(v) for v in face_found(result))
    clean = astronaut[y0:y1, x0:x1]
    before, after = psnr(noisy[y0:y1, x0:x1], clean), psnr(result.pixels[y0:y1, x0:x1], clean)
    print(f"face box: noisy {before:.2f} dB -> restored {after:.2f} dB; faces {result.data['faces']}")
    assert after > before + 5
    free = outside(squares_of(result), noisy.shape)
    np.testing.assert_array_equal(result.pixels[free], noisy[free])
    p = result.provenance
    assert p.path == "classical" and p.method.startswith("non-local means denoising (noise ")
    assert "an unsharp mask on each face the LBP cascade found" in p.method and "not AI" in p.label()
    assert "model ships with Darkroom; you can add your own ONNX model." in p.reason
    side = geometry.face_square(face_found(result)).side
    assert p.notes == ["1 face found by scikit-image's LBP frontal-face cascade on a median-filtered copy, after "
                       "none on the photo itself (frontal faces only; faces narrower than about 24 pixels are missed).",
                       f"Each face was cropped to a square 2× its box ({side} px) and blended back with a soft edge.",
                       f"Crops of {side} px were denoised at 1.5× their size (measured cleaner)."]


def test_small_faces_are_cleaner_worked_on_enlarged(astronaut, monkeypatch):
    """The reason for ``SMALL_SCALE``: a 43 px face, denoised at 1.5x and at its own size."""
    small_clean = np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.Resampling.LANCZOS))
    square = geometry.face_square([f / 2 for f in FACE])
    clean = geometry.take(small_clean, square)
    noisy = add_noise(clean, 15)
    enlarged, _ = cleanup.clean_face(noisy)
    monkeypatch.setattr(cleanup, "SMALL_SCALE", 1.0)
    native, _ = cleanup.clean_face(noisy)
    print(f"{square.side} px crop: noisy {psnr(noisy, clean):.2f}, at its size {psnr(native, clean):.2f}, "
          f"at 1.5x {psnr(enlarged, clean):.2f} dB")
    assert psnr(enlarged, clean) > psnr(native, clean) + 0.5 > psnr(noisy, clean) + 2


def test_work_sizes_follow_the_face():
    assert cleanup.work_side(100) == 150
    assert cleanup.work_side(384) == 576
    assert cleanup.work_side(600) == 600
    assert cleanup.work_side(3000) == cleanup.MAX_WORK_SIDE


def test_a_photo_without_faces_is_returned_unchanged():
    yy, xx = np.mgrid[0:120, 0:160]
    pixels = np.dstack([xx, yy, xx + yy]).astype(np.uint8)
    result = run_tool("restore-faces", pixels, {"classical": True})
    np.testing.assert_array_equal(result.pixels, pixels)
    assert result.data == {"faces": []}
    assert result.provenance.method == "nothing changed: no face found"
    assert result.provenance.notes[-1] == "The photo is unchanged."
    assert result.provenance.notes[0].startswith("No face found by scikit-image's LBP frontal-face cascade, "
                                                 "on the photo or on a median-filtered copy")


# --- the model path (stand-ins with GFPGAN v1.4's ONNX interface) ---------------------


@pytest.fixture()
def user_model(tmp_path, monkeypatch):
    """Makes a stand-in, checks it against the tool's signature and caches it as the CLI does."""
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))

    def make(name, **kwargs):
        path = tmp_path / f"{name}.onnx"
        colour_matrix_face_model(path, **kwargs)
        spec = add_user_model(TOOL.id, TOOL.signature, [path])
        return spec

    return make


def run_user_model(spec, pixels, params):
    return asyncio.run(engine.run_tool(TOOL, imaging.Decoded(pixels, "PNG", ()), {"model": spec.id, **params},
                                       runtime=CpuRuntime(), models={spec.id: spec}, tier=DEFAULT))


def test_standin_identity_leaves_the_photo_nearly_unchanged(small_astronaut, user_model):
    astronaut = small_astronaut
    spec = user_model("gfpgan-identity")
    result = run_user_model(spec, astronaut, {"strength": 1.0})
    p = result.provenance
    assert (p.path, p.model, p.variant) == ("model", spec.id, "user") and spec.id.startswith("user:gfpgan-identity@")
    assert p.label().startswith(f"AI model {spec.id} on cpu")
    (square,) = squares_of(result)
    geometry.face_square(face_found(result, 0.5))
    x0, y0, x1, y1 = square.inside(256, 256)
    print(f"identity stand-in: {psnr(result.pixels[y0:y1, x0:x1], astronaut[y0:y1, x0:x1]):.2f} dB over the crop")
    assert psnr(result.pixels[y0:y1, x0:x1], astronaut[y0:y1, x0:x1]) > 42  # only resizing to 512 and back is left
    free = outside(squares_of(result), astronaut.shape)
    np.testing.assert_array_equal(result.pixels[free], astronaut[free])
    assert p.notes == ["1 face found by scikit-image's LBP frontal-face cascade (frontal faces only; faces narrower "
                       "than about 24 pixels are missed).",
                       f"Each face was cropped to a square 2× its box ({square.side} px), scaled to 512 × 512 "
                       "for the model and back, and blended in with a soft edge."]


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_standin_negative_shows_where_and_how_strongly_faces_are_replaced(small_astronaut, user_model, strength):
    """The stand-in inverts colours ((x / 255 - 0.5) / 0.5 negated is 255 - x): at full
    strength the face's middle is the negative, at half it is flat mid-grey."""
    astronaut = small_astronaut
    result = run_user_model(user_model("negative", matrix=-np.eye(3)), astronaut, {"strength": strength})
    square = geometry.face_square(face_found(result, 0.5))
    middle = np.s_[square.y0 + square.side // 3:square.y0 + 2 * square.side // 3,
                   square.x0 + square.side // 3:square.x0 + 2 * square.side // 3]
    expected = (1 - strength) * astronaut[middle].astype(float) + strength * (255 - astronaut[middle].astype(float))
    error = np.abs(result.pixels[middle] - expected)
    assert np.median(error) <= 3 and error.mean() < 4  # resize error only
    free = outside(squares_of(result), astronaut.shape)
    np.testing.assert_array_equal(result.pixels[free], astronaut[free])


def test_standin_run_counts_faces_and_handles_a_face_at_the_edge(small_astronaut):
    """Faces by the photo's top corners: their crops are mirrored past the edges and only
    the parts inside are pasted. Progress is reported per face."""
    spec = byom.user_spec(TOOL.id, TOOL.signature, [byom.UserFile("standin.onnx", "0" * 64, 1,
                          (models.TensorSpec("input", (1, 3, 512, 512), "float32"),),
                          (models.TensorSpec("output", (1, 3, 512, 512), "float32"),))])
    seen = []

    async def negate(feeds):
        seen.append(feeds["input"].shape)
        return {"output": -feeds["input"]}

    # Her face near the top-left corner, and mirrored near the top-right one.
    corner = small_astronaut[25:, 70:]
    photo = np.zeros((240, 400, 3), np.uint8)
    photo[:231, :186], photo[:231, -186:] = corner, corner[:, ::-1]
    progress = []
    out = asyncio.run(run_model(spec, negate, photo, TOOL.resolve({"strength": 1.0}), lambda *a: progress.append(a)))
    squares = squares_of(out)
    assert len(squares) == 2, out.data["faces"]
    assert seen == [(1, 3, 512, 512)] * 2 and progress == [(1, 2), (2, 2)]
    for square in squares:
        assert square.y0 < 0 and (square.x0 < 0 or square.x0 + square.side > 400)  # past two edges
        x0, y0, x1, y1 = square.inside(400, 240)
        assert psnr(out.pixels[y0:y1, x0:x1], photo[y0:y1, x0:x1]) < 15  # the part inside was replaced
    free = outside(squares, photo.shape)
    np.testing.assert_array_equal(out.pixels[free], photo[free])


def test_standin_sees_no_face_and_says_the_model_did_not_run(user_model):
    spec = user_model("gfpgan-identity")
    pixels = np.full((90, 120, 3), 140, np.uint8)
    result = run_user_model(spec, pixels, {})
    np.testing.assert_array_equal(result.pixels, pixels)
    assert result.data == {"faces": []}
    assert result.provenance.notes[-1] == f"The photo is unchanged: {spec.id} did not run."


def test_a_model_of_another_shape_is_refused(user_model):
    with pytest.raises(ModelError) as caught:
        user_model("gfpgan-256", side=256)
    assert str(caught.value).startswith("This model does not fit: image 'input' has 256 in dimension 2, not 512. "
                                        "The tool needs inputs image: float32 [1, 3, 512, 512] — outputs "
                                        "restored: float32 [1, 3, 512, 512]")


# --- the CLI -----------------------------------------------------------------------


def test_cli_runs_both_paths_and_labels_them(tmp_path, monkeypatch, capsys, small_astronaut):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))
    source, out = tmp_path / "noisy.png", tmp_path / "out.png"
    source.write_bytes(imaging.encode_png(add_noise(small_astronaut, 10)))
    assert cli.main(["restore-faces", str(source), str(out), "--classical", "--strength", "0.6", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    faces, label, provenance = json.loads(lines[0])["faces"], lines[1], json.loads(lines[2])
    assert faces and provenance["path"] == "classical" and provenance["label"] == label
    assert label.startswith("Classical fallback (scikit-image non-local means denoising") and "not AI" in label
    assert Image.open(out).size == (256, 256)

    model = tmp_path / "GFPGANv1.4 standin.onnx"
    colour_matrix_face_model(model)
    assert cli.main(["restore-faces", str(source), str(out), "--model-file", str(model), "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sha = models.sha256_file(model)
    assert (provenance["path"], provenance["model"]) == ("model", f"user:GFPGANv1.4_standin@{sha[:12]}")
    assert provenance["label"].startswith(f"AI model user:GFPGANv1.4_standin@{sha[:12]} on cpu")


def test_cli_refuses_a_model_with_the_wrong_signature(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))
    source, out, model = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "small.onnx"
    source.write_bytes(imaging.encode_png(np.full((40, 40, 3), 128, np.uint8)))
    colour_matrix_face_model(model, side=256)
    assert cli.main(["restore-faces", str(source), str(out), "--model-file", str(model)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("darkroom: This model does not fit: image 'input' has 256 in dimension 2, not 512.")
    assert not out.exists()
