"""The ``darkroom`` command line, in-process and once as a real subprocess."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darkroom import imaging, models
from darkroom.cli import main
from helpers import require_models

CAT_SIZE = (451, 300)  # (width, height) of skimage's chelsea


@pytest.fixture
def cat_file(tmp_path, cat_photo) -> Path:
    path = tmp_path / "cat.jpg"
    path.write_bytes(cat_photo)
    return path


@pytest.fixture
def product_file(tmp_path) -> Path:
    """A dark disc on a white backdrop, 120 x 80 PNG: easy for the classical path."""
    yy, xx = np.mgrid[0:80, 0:120]
    pixels = np.full((80, 120, 3), 250, np.uint8)
    pixels[(yy - 40) ** 2 + (xx - 60) ** 2 <= 25 ** 2] = (30, 40, 90)
    path = tmp_path / "product.png"
    path.write_bytes(imaging.encode_png(pixels))
    return path


@pytest.fixture
def models_cached():
    require_models("isnet-fp16", "isnet-quint8")


def provenance_line(stdout: str) -> dict:
    lines = stdout.strip().splitlines()
    assert len(lines) == 2, stdout  # the label, then the JSON
    data = json.loads(lines[-1])
    assert data["label"] == lines[0]
    return data


def one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("darkroom: ")
    return lines[0]


# --------------------------------------------------------------------------
# The model path


def test_subprocess_default_model_json(tmp_path, cat_file, models_cached):
    exe = Path(sys.executable).with_name("darkroom")
    assert exe.is_file(), exe
    out = tmp_path / "cut.png"
    proc = subprocess.run([str(exe), "remove-background", str(cat_file), str(out), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.mode == "RGBA"
        assert im.size == CAT_SIZE
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["path"] == "model"
    assert data["backend"] == "cpu"
    assert data["model"] == "isnet-fp16"  # auto on the CPU runtime prefers fp16
    assert data["variant"] == "fp16"
    assert data["reason"] is None
    assert data["input_size"] == list(CAT_SIZE)
    assert data["output_size"] == list(CAT_SIZE)
    timings = data["timings_ms"]
    assert {"decode", "load", "process", "infer", "encode", "total"} <= set(timings)
    assert timings["total"] >= timings["infer"] > 0
    assert data["label"].startswith("AI model isnet-fp16 on cpu, ")


def test_model_quint8_in_process(tmp_path, cat_file, capsys, models_cached):
    out = tmp_path / "cut.png"
    assert main(["remove-background", str(cat_file), str(out), "--json", "--model", "isnet-quint8"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = provenance_line(captured.out)
    assert (data["path"], data["model"], data["variant"], data["backend"]) == \
        ("model", "isnet-quint8", "quint8", "cpu")
    assert data["tool"] == "remove-background"
    assert data["fallback_chain"] == ["isnet-quint8@cpu ran"]  # the chain records what ran, even first time
    assert data["reason"] is None
    assert data["timings_ms"]["total"] >= sum(v for k, v in data["timings_ms"].items() if k != "total") - 0.1
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("RGBA", CAT_SIZE)
        rgba = np.asarray(im)
    np.testing.assert_array_equal(rgba[..., :3], imaging.decode(cat_file.read_bytes()).pixels)
    alpha = rgba[..., 3]
    # Looked at once: the cat's face is opaque, the blurred room on the far right is clear.
    assert (alpha[60:240, 80:280] > 200).mean() > 0.95
    assert (alpha[:, 420:] < 30).mean() > 0.95


# --------------------------------------------------------------------------
# The classical path


def test_classical_mask(tmp_path, cat_file, capsys):
    out = tmp_path / "mask.png"
    assert main(["remove-background", str(cat_file), str(out), "--classical", "--output", "mask", "--json"]) == 0
    data = provenance_line(capsys.readouterr().out)
    assert data["path"] == "classical"
    assert data["reason"] == "Classical path requested."
    assert data["model"] is None
    assert data["backend"] == "python"
    assert "not AI" in data["label"]
    assert {"decode", "classical", "encode", "total"} <= set(data["timings_ms"])
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("L", CAT_SIZE)
        assert np.asarray(im).shape == (CAT_SIZE[1], CAT_SIZE[0])


def test_color_output_paints_the_backdrop(tmp_path, product_file, capsys):
    out = tmp_path / "green.png"
    assert main(["remove-background", str(product_file), str(out), "--classical",
                 "--output", "color", "--color", "#00ff00"]) == 0
    label = capsys.readouterr().out.strip()
    assert label.startswith("Classical fallback (scikit-image, not AI) on python")
    assert label.endswith("Classical path requested.")
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("RGB", (120, 80))
        rgb = np.asarray(im)
    for corner in (rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]):
        np.testing.assert_array_equal(corner, [0, 255, 0])
    np.testing.assert_allclose(rgb[40, 60], [30, 40, 90], atol=12)


def test_without_json_prints_only_the_label(tmp_path, product_file, capsys):
    assert main(["remove-background", str(product_file), str(tmp_path / "o.png"), "--classical"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Classical fallback")


# --------------------------------------------------------------------------
# Errors: exit 1 and one line on stderr


@pytest.mark.parametrize("content, expected", [
    (b"hello, this is not a picture\n", "darkroom: This file is not an image Darkroom can read"),
    (b"", "darkroom: The file is empty."),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "darkroom: The image data is damaged or truncated."),
], ids=["text", "empty", "truncated-png"])
def test_unreadable_input(tmp_path, capsys, content, expected):
    src = tmp_path / "input.png"
    src.write_bytes(content)
    out = tmp_path / "out.png"
    assert main(["remove-background", str(src), str(out)]) == 1
    captured = capsys.readouterr()
    assert one_line_error(captured.err).startswith(expected)
    assert captured.out == ""
    assert not out.exists()


@pytest.mark.parametrize("limit, expected", [
    (["--max-megabytes", "0.0001"], r"^darkroom: The file is [\d,]+ bytes; the limit is 104 bytes\.$"),
    (["--max-megapixels", "0.0001"],
     r"^darkroom: The image is \d+ × \d+ pixels \([\d,]+ pixels\); the limit is 100 pixels\.$"),
], ids=["bytes", "pixels"])
def test_input_limits_are_options(tmp_path, product_file, capsys, limit, expected):
    out = tmp_path / "out.png"
    assert main(["remove-background", str(product_file), str(out), "--classical", *limit]) == 1
    assert re.match(expected, one_line_error(capsys.readouterr().err))
    assert not out.exists()


def test_input_limits_must_be_positive(tmp_path, product_file, capsys):
    with pytest.raises(SystemExit):
        main(["remove-background", str(product_file), str(tmp_path / "out.png"), "--max-megabytes", "-1"])
    assert "must be a positive number" in capsys.readouterr().err


def test_missing_input(tmp_path, capsys):
    src = tmp_path / "nowhere.jpg"
    assert main(["remove-background", str(src), str(tmp_path / "out.png")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"darkroom: cannot access {src}: No such file or directory"


def test_unwritable_output(tmp_path, product_file, capsys):
    out = tmp_path / "no-such-dir" / "out.png"
    assert main(["remove-background", str(product_file), str(out), "--classical"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"darkroom: cannot access {out}: No such file or directory"


@pytest.mark.parametrize("colour", ["green", "#12345", "#12345g", "00ff00"])
def test_bad_color(tmp_path, product_file, capsys, colour):
    out = tmp_path / "out.png"
    assert main(["remove-background", str(product_file), str(out), "--classical",
                 "--output", "color", "--color", colour]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"darkroom: color must be a colour like #ffffff, not {colour!r}"
    assert not out.exists()


@pytest.mark.parametrize("extra, model_id", [([], "isnet-fp16"), (["--model", "isnet-quint8"], "isnet-quint8")])
def test_missing_model(tmp_path, cat_file, capsys, monkeypatch, extra, model_id):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "empty-cache"))
    out = tmp_path / "out.png"
    assert main(["remove-background", str(cat_file), str(out), *extra]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith(f"darkroom: model {model_id}") and "is not downloaded" in line
    assert "`darkroom models fetch`" in line
    assert "--classical" in line
    assert not out.exists()


def test_missing_model_does_not_block_classical(tmp_path, product_file, capsys, monkeypatch):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path / "empty-cache"))
    assert main(["remove-background", str(product_file), str(tmp_path / "o.png"), "--classical", "--json"]) == 0
    assert provenance_line(capsys.readouterr().out)["path"] == "classical"


def test_corrupt_cached_model_falls_back_honestly(tmp_path, product_file, capsys, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "isnet-fp16.onnx").write_bytes(b"not really a model")
    monkeypatch.setenv("DARKROOM_CACHE", str(cache))
    out = tmp_path / "o.png"
    assert main(["remove-background", str(product_file), str(out), "--json"]) == 0
    data = provenance_line(capsys.readouterr().out)
    assert data["path"] == "classical"
    assert data["model"] is None
    fp16_failure = "isnet-fp16@cpu failed: isnet-fp16.onnx is 18 bytes, expected 88189244 (truncated or altered)"
    quint8_failure = "isnet-quint8@cpu failed: isnet-quint8.onnx is not downloaded; run `darkroom models fetch`"
    # The CPU plan tries fp16 then quint8; both fail verification, so the classical path runs.
    assert data["fallback_chain"] == [fp16_failure, quint8_failure]
    assert data["reason"] == (f"No model could run ({fp16_failure}; {quint8_failure})."
                              " Ran the classical fallback instead.")
    assert "not AI" in data["label"]
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("RGBA", (120, 80))


def test_unknown_option_is_a_usage_error(tmp_path, product_file, capsys):
    with pytest.raises(SystemExit) as info:
        main(["remove-background", str(product_file), str(tmp_path / "o.png"), "--output", "jpeg"])
    assert info.value.code == 2
    assert "invalid choice: 'jpeg'" in capsys.readouterr().err


# --------------------------------------------------------------------------
# darkroom models


def test_models_list(capsys, models_cached):
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(models.load_manifest())
    isnet = lines[:2]
    for line in isnet:
        assert "remove-background" in line
        assert " downloaded " in line and "not downloaded" not in line
    assert "88.2 MB" in isnet[0]
    assert "44.3 MB" in isnet[1]


def test_models_list_with_empty_cache(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path))
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    manifest = models.load_manifest()
    assert sorted(line.split()[0] for line in lines) == sorted(manifest)
    for line in lines:
        spec = manifest[line.split()[0]]
        assert ("optional" if spec.optional else "not downloaded") in line


def test_models_fetch_unknown_id(capsys):
    assert main(["models", "fetch", "isnet-huge"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"darkroom: unknown model isnet-huge; known: {', '.join(sorted(models.load_manifest()))}"


def test_models_fetch_cached_is_verified_noop(capsys, models_cached):
    # Both files are cached and verified: fetch only re-hashes them (no npm, no network).
    assert main(["models", "fetch", "isnet-quint8"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"isnet-quint8: verified {models.cache_dir() / 'isnet-quint8.onnx'}"
