"""Tag: the classical path's plain measurements, checked on images made to have them, and
the CLIP path (the committed prompt tokens, CLIP's preprocessing and scoring, and stand-in
CLIP encoders with the published interface through the engine and the CLI)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from darkroom import cli, clip_bpe, engine, imaging
from darkroom.models import ModelError, ModelSpec, TensorSpec
from darkroom.runtime import CpuRuntime, add_user_model
from darkroom.tiers import DEFAULT
from darkroom.tools import registry
from darkroom.tools.tag import clip, make_prompts, measure, tags_from
from darkroom.tools.tag.prompts import PROMPTS
from helpers import run_tool, skip_unless_ci
from standins import CLIP_BLUE as BLUE
from standins import CLIP_RED as RED
from standins import clip_normalised as normalised
from standins import clip_standin_models, clip_standin_table


def page_of_text() -> np.ndarray:
    page = Image.new("RGB", (600, 800), (250, 250, 247))
    draw = ImageDraw.Draw(page)
    for y in range(60, 760, 28):
        draw.rectangle((60, y, 540, y + 10), fill=(40, 40, 40))
    return np.asarray(page)


def test_a_page_of_text_is_document_like_and_a_photo_is_not():
    from skimage import data

    assert measure(page_of_text())["document_like"] is True
    assert measure(data.astronaut())["document_like"] is False


def test_orientation_brightness_and_colours():
    halves = np.zeros((100, 300, 3), np.uint8)
    halves[:, :150] = (200, 40, 40)
    halves[:, 150:] = (50, 90, 200)
    m = measure(halves)
    assert m["orientation"] == "landscape"
    assert {c["name"] for c in m["colours"][:2]} == {"red", "blue"}
    assert all(abs(c["share"] - 0.5) < 0.05 for c in m["colours"][:2])
    assert measure(np.full((300, 100, 3), 10, np.uint8))["orientation"] == "portrait"
    assert tags_from(measure(np.full((100, 100, 3), 10, np.uint8)), 0)[:2] == ["square", "dark"]


def test_blur_reads_as_soft():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    soft = np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(4)))
    assert "sharp" in tags_from(measure(noise), 0) and "soft" in tags_from(measure(soft), 0)


def test_tag_runs_classically_and_says_it_is_no_recogniser():
    from skimage import data

    result = run_tool("tag", data.astronaut(), {})
    p = result.provenance
    assert p.path == "classical" and "not a content recogniser" in p.method
    assert p.reason == ("No tag model ships with Darkroom; you can add your own ONNX model. "
                        "Ran the classical fallback instead.")
    assert p.label().startswith("Classical fallback (scikit-image measurements") and "not AI" in p.label()
    assert result.data["tags"][0] == "square" and len(result.data["faces"]) >= 1
    assert any(tag.endswith("face") or tag.endswith("faces") for tag in result.data["tags"])
    np.testing.assert_array_equal(result.pixels, data.astronaut())


# --------------------------------------------------------------------------
# The CLIP path: prompts and their tokens

IDS = {label: ids for label, _, ids in PROMPTS}


def test_the_committed_prompts_are_make_prompts_labels_with_clip_token_ids():
    assert [(label, prompt) for label, prompt, _ in PROMPTS] == list(make_prompts.LABELS)
    assert 60 <= len(PROMPTS) <= 120 and len(IDS) == len(PROMPTS)  # labels are unique
    assert all(ids[0] == 49406 and ids[-1] == 49407 and len(ids) <= 77 for ids in IDS.values())
    ids = clip.token_ids()
    assert ids.shape == (len(PROMPTS), 77) and ids.dtype == np.int64
    assert list(ids[-1][:len(PROMPTS[-1][2]) + 1]) == [*PROMPTS[-1][2], 0]  # padded with 0


def test_the_prompt_token_ids_are_clips_bpe_of_the_prompts():
    """Downloads open_clip_torch's wheel for CLIP's vocabulary, tokenizes every prompt
    again and compares with the committed file, byte for byte."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            merges = clip_bpe.fetch_merges(Path(folder))
        except RuntimeError as exc:
            skip_unless_ci(f"CLIP's vocabulary could not be fetched: {exc}")
    tokenize = clip_bpe.Tokenizer(merges)
    assert tokenize("a photo of a dog") == [49406, 320, 1125, 539, 320, 1929, 49407]  # CLIP's known ids
    assert tokenize("A  Photo of the Dog's ball!!") == [49406, 320, 1125, 539, 518, 1929, 568, 1069, 748, 49407]
    assert make_prompts.render(tokenize) == Path(make_prompts.__file__).with_name("prompts.py").read_text()


# --------------------------------------------------------------------------
# The CLIP path: preprocessing and scoring


def image_part(side: int = 224) -> ModelSpec:
    return ModelSpec("clip/image", "tag", "CLIP", "user", (),
                     (TensorSpec("pixel_values", (1, 3, side, side), "float32"),),
                     (TensorSpec("image_embeds", (1, 8), "float32"),),
                     clip.SIGNATURE.parts["image"].normalisation, "", {})



def test_clip_sees_the_centre_crop_its_own_preprocessing_keeps():
    from skimage import data

    # Resampling the crop box straight to 224 is torchvision's Resize(224) + CenterCrop(224).
    photo = Image.fromarray(data.astronaut()).resize((640, 480))
    box = clip.centre_crop(640, 480, 224)
    direct = np.asarray(photo.resize((224, 224), Image.Resampling.BICUBIC, box=box), np.float32)
    reference = np.asarray(photo.resize((298, 224), Image.Resampling.BICUBIC).crop((37, 0, 261, 224)), np.float32)
    assert np.abs(direct - reference).mean() < 0.05
    assert clip.centre_crop(300, 500, 224) == pytest.approx((0, 100, 300, 400), abs=1)  # portrait: top and bottom go
    # Blue sides outside the crop, red inside: CLIP sees only red.
    pixels = np.zeros((300, 400, 3), np.uint8)
    pixels[:] = (30, 60, 200)
    pixels[:, 55:345] = (230, 30, 30)
    feeds, note = clip.prepare_image(image_part(), pixels)
    x = feeds["pixel_values"]
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 8:-8, 8:-8].mean(axis=(1, 2)), normalised((230, 30, 30)), atol=0.02)
    assert note.startswith("CLIP saw the centre 301 × 300 of the 400 × 300 photo, scaled to 224 × 224")
    assert clip.prepare_image(image_part(336), pixels[:, :300])[1] == \
        "CLIP saw the whole 300 × 300 photo, scaled to 336 × 336."


def test_zero_shot_scores_are_a_softmax_of_100_times_the_cosine_and_tags_pass_a_threshold():
    n = len(PROMPTS)
    texts = np.zeros((n, 4), np.float32)
    texts[:, 3] = 1
    texts[0], texts[1] = (1, 0, 0, 0), (0.6, 0.8, 0, 0)  # cosines 1 and 0.6 with the image, the rest 0
    p = clip.label_probabilities(np.array([7, 0, 0, 0], np.float32), texts)
    assert p.sum() == pytest.approx(1) and p[0] == pytest.approx(1 / (1 + np.exp(-40) + (n - 2) * np.exp(-100)))
    tags, scores = clip.choose_tags(p)
    assert tags == [PROMPTS[0][0]] and list(scores)[:2] == [PROMPTS[0][0], PROMPTS[1][0]] and len(scores) == 10
    even = np.full(n, 0.5 / (n - 6))
    even[[9, 3, 20, 40, 7, 50]] = [0.2, 0.15, 0.05, 0.05, 0.03, 0.02]
    assert clip.choose_tags(even / even.sum())[0] == [PROMPTS[9][0], PROMPTS[3][0]]
    assert clip.choose_tags(np.full(n, 1 / n))[0] == []
    with pytest.raises(ModelError, match="embeddings have 5 numbers and the text part's 4"):
        clip.label_probabilities(np.ones(5, np.float32), texts)


# --------------------------------------------------------------------------
# The CLIP path with stand-in encoders (tests/standins.py), through the engine and the CLI

@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(clip, "_TEXT_EMBEDDINGS", {})  # each test encodes the prompts afresh


@pytest.fixture()
def standins(tmp_path) -> tuple[Path, Path]:
    vision, text = tmp_path / "vision_model.onnx", tmp_path / "text_model.onnx"
    clip_standin_models(vision, text, clip_standin_table())
    return vision, text


class CountingRuntime(CpuRuntime):
    """onnxruntime on the CPU, remembering which part each run was of."""

    def __init__(self):
        super().__init__()
        self.runs = []

    async def run(self, session, feeds, outputs):
        self.runs.append(session.model_id.rsplit("/", 1)[-1])
        return await super().run(session, feeds, outputs)


def run_tag(paths, pixels, runtime=None):
    tool = registry()["tag"]
    spec = add_user_model(tool.id, tool.signature, list(paths))
    result = asyncio.run(engine.run_tool(tool, imaging.Decoded(pixels, "PNG", ()), {"model": spec.id},
                                         runtime=runtime or CpuRuntime(), models={spec.id: spec}, tier=DEFAULT))
    return spec, result


def flat(rgb, size=(300, 400)) -> np.ndarray:
    pixels = np.zeros((*size, 3), np.uint8)
    pixels[:] = rgb
    return pixels


def test_standin_clip_tags_a_red_photo_with_its_label_first(cache, standins):
    spec, result = run_tag(standins, flat(RED))
    p = result.provenance
    assert spec.id.startswith("user:vision_model@") and (p.path, p.model, p.variant) == ("model", spec.id, "user")
    assert result.data["tags"][0] == "sunset" and next(iter(result.data["scores"])) == "sunset"
    assert result.data["measures"] == measure(flat(RED)) and "faces" not in result.data
    np.testing.assert_array_equal(result.pixels, flat(RED))
    assert p.notes[0].startswith("CLIP saw the centre 301 × 300 of the 400 × 300 photo, scaled to 224 × 224")
    assert f"among {len(PROMPTS)} fixed ones" in p.notes[1] and "plain measurements, not the model's" in p.notes[2]
    _, blue = run_tag(standins, flat(BLUE))
    assert blue.data["tags"][0] == "sea"


def test_standin_text_encoder_of_batch_one_runs_prompt_by_prompt_once_per_model(cache, tmp_path, standins):
    vision, text = tmp_path / "v1.onnx", tmp_path / "t1.onnx"
    clip_standin_models(vision, text, clip_standin_table(), text_batch=1)
    runtime = CountingRuntime()
    spec, result = run_tag([vision, text], flat(RED), runtime)
    assert spec.parts["text"].inputs[0].shape == (1, 77)
    assert runtime.runs == ["text"] * len(PROMPTS) + ["image"]
    _, batched = run_tag(standins, flat(RED))
    assert result.data["scores"] == batched.data["scores"]  # the same embeddings, one by one or all at once
    runtime.runs.clear()
    run_tag([vision, text], flat(BLUE), runtime)
    assert runtime.runs == ["image"]  # the prompts' embeddings are kept for the next photo


@pytest.mark.parametrize("order", ["vision first", "text first"])
def test_standin_cli_takes_the_two_files_in_either_order(cache, standins, tmp_path, capsys, order):
    source, out = tmp_path / "red.png", tmp_path / "out.png"
    Image.fromarray(flat(RED)).save(source)
    files = standins if order == "vision first" else standins[::-1]
    assert cli.main(["tag", str(source), str(out), "--model-file", str(files[0]),
                     "--model-file", str(files[1]), "--json"]) == 0
    data, label, provenance = capsys.readouterr().out.strip().splitlines()
    provenance = json.loads(provenance)
    assert json.loads(data)["tags"][0] == "sunset"
    assert provenance["path"] == "model" and provenance["model"].startswith("user:vision_model@")
    assert label.startswith(f"AI model {provenance['model']} on cpu")
    np.testing.assert_array_equal(np.asarray(Image.open(out)), flat(RED))


def test_cli_classical_only_measures_and_says_so(cache, tmp_path, capsys):
    source, out = tmp_path / "red.png", tmp_path / "out.png"
    Image.fromarray(flat(RED)).save(source)
    assert cli.main(["tag", str(source), str(out), "--classical"]) == 0
    data, label = capsys.readouterr().out.strip().splitlines()
    assert json.loads(data)["tags"] == ["landscape", "mid-tone", "soft", "red", "no faces"]
    assert label.startswith("Classical fallback (scikit-image measurements")
    assert label.endswith("Classical path requested.")


def test_standin_two_image_encoders_are_refused_with_what_the_text_part_needs(cache, standins, tmp_path, capsys):
    source, copy = tmp_path / "red.png", tmp_path / "vision_copy.onnx"
    Image.fromarray(flat(RED)).save(source)
    copy.write_bytes(standins[0].read_bytes())
    assert cli.main(["tag", str(source), str(tmp_path / "out.png"), "--model-file", str(standins[0]),
                     "--model-file", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("darkroom: No file fits the text part (inputs token ids: int64 [N, 77]")
    assert "vision_model.onnx: token ids 'pixel_values' is float32, not int64" in err
    assert not (tmp_path / "out.png").exists()


def test_standin_encoders_of_different_embedding_sizes_fall_back_and_say_why(cache, tmp_path):
    vision, text = tmp_path / "vision_model.onnx", tmp_path / "text_model.onnx"
    clip_standin_models(vision, text, clip_standin_table(6), projection=np.eye(3, 8))
    spec, result = run_tag([vision, text], flat(RED))
    p = result.provenance
    assert p.path == "classical" and "not a content recogniser" in p.method
    assert p.reason == (f"No model could run ({spec.id}@cpu failed: the image part's embeddings have 8 numbers and "
                        "the text part's 6; the two files are not parts of the same CLIP model). "
                        "Ran the classical fallback instead.")
    assert "no faces" in result.data["tags"]
