"""find-faces: the cascade and BlazeFace through the tool, the marked image and the data."""

import json

import numpy as np
import pytest

from darkroom.cli import main
from darkroom.runtime import CpuRuntime
from helpers import jpeg_bytes, require_models, run_tool

#: Checked by eye on scikit-image's astronaut: brows to chin, cheek to cheek.
FACE = (178, 81, 272, 175)


def overlap(box, other):
    x0, y0 = max(box[0], other[0]), max(box[1], other[1])
    x1, y1 = min(box[2], other[2]), min(box[3], other[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return inter / (area(box) + area(other) - inter)


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


def test_cascade_finds_the_astronauts_face(astronaut):
    result = run_tool("find-faces", astronaut, {"classical": True})
    faces = result.data["faces"]
    print("cascade:", faces)
    assert max(overlap(f["box"], FACE) for f in faces) > 0.4
    assert all(f["score"] is None and f["keypoints"] == {} for f in faces)
    assert result.provenance.method == "LBP frontal-face cascade (boxes only)"
    assert result.pixels.shape == astronaut.shape
    assert not np.array_equal(result.pixels, astronaut)  # the boxes are drawn


def test_no_face_in_a_flat_image():
    result = run_tool("find-faces", np.full((200, 300, 3), 90, np.uint8), {"classical": True})
    assert result.data == {"faces": []}


def test_blazeface_finds_one_face_with_landmarks(astronaut):
    require_models("blazeface-short")
    result = run_tool("find-faces", astronaut, {}, runtime=CpuRuntime())
    p = result.provenance
    assert (p.path, p.model) == ("model", "blazeface-short")
    # 512 px photo: the smallest face it reliably finds is ~18 % of that.
    assert p.notes == ["Searched the whole photo at 128 × 128: faces narrower than about 93 pixels are often missed."]
    (face,) = result.data["faces"]
    print("blazeface:", face)
    assert overlap(face["box"], FACE) > 0.8 and face["score"] > 0.8
    x0, y0, x1, y1 = face["box"]
    for name in ("right_eye", "left_eye", "nose_tip", "mouth"):
        x, y = face["keypoints"][name]
        assert x0 < x < x1 and y0 < y < y1, name
    right, left = face["keypoints"]["right_eye"], face["keypoints"]["left_eye"]
    assert right[0] < left[0]  # the subject's right eye is on the image's left
    assert face["keypoints"]["mouth"][1] > face["keypoints"]["nose_tip"][1]


def test_blazeface_keeps_geometry_on_a_wide_photo(astronaut):
    """Letterboxing must map back exactly. (The short-range model wants faces of at
    least ~15 % of the long side, so the photo is only moderately wide.)"""
    require_models("blazeface-short")
    wide = np.zeros((512, 700, 3), np.uint8)
    wide[:, 150:662] = astronaut
    (face,) = run_tool("find-faces", wide, {}, runtime=CpuRuntime()).data["faces"]
    shifted = (FACE[0] + 150, FACE[1], FACE[2] + 150, FACE[3])
    assert overlap(face["box"], shifted) > 0.75


def test_cli_prints_the_faces_as_json(tmp_path, capsys, astronaut):
    source = tmp_path / "a.jpg"
    source.write_bytes(jpeg_bytes(astronaut))
    assert main(["find-faces", str(source), str(tmp_path / "out.png"), "--classical"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    faces = json.loads(first)["faces"]
    assert faces and all(len(f["box"]) == 4 for f in faces)
    assert (tmp_path / "out.png").stat().st_size > 0
