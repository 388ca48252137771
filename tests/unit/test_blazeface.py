"""BlazeFace short-range post-processing (anchors, decoding, weighted NMS, letterbox)."""

import numpy as np
import pytest

from darkroom import models
from darkroom.models import ModelError
from darkroom.tools.find_faces import blazeface as bf


def test_anchor_count_and_centres():
    a = bf.anchors()
    assert a.shape == (896, 2) and a.dtype == np.float32
    # 16x16 grid, 2 anchors per cell, then 8x8 grid, 6 anchors per cell.
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])  # x moves first
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(a[511], [15.5 / 16, 15.5 / 16])
    np.testing.assert_allclose(a[512:518], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def _raw(entries):
    """Regressors/logits that are empty (score ~0) except at ``{anchor: (dx, dy, w, h, logit)}``
    (box values in input pixels)."""
    regressors = np.zeros((1, 896, 16), np.float32)
    classificators = np.full((1, 896, 1), -20.0, np.float32)
    for index, (dx, dy, w, h, logit) in entries.items():
        regressors[0, index, :4] = [dx, dy, w, h]
        regressors[0, index, 4:] = np.tile([dx, dy], 6)  # keypoints at the box centre
        classificators[0, index, 0] = logit
    return regressors, classificators


def test_decode_places_a_box_where_expected():
    a = bf.anchors()
    index = 600  # on the 8x8 grid
    cx, cy = a[index]
    regressors, classificators = _raw({index: (6.4, -12.8, 32.0, 64.0, 3.0)})
    (det,) = bf.decode(regressors, classificators)
    x = cx + 6.4 / 128
    y = cy - 12.8 / 128
    np.testing.assert_allclose(det.box, [x - 0.125, y - 0.25, x + 0.125, y + 0.25], atol=1e-6)
    assert det.score == pytest.approx(1 / (1 + np.exp(-3.0)))
    np.testing.assert_allclose(det.keypoints, [[x, y]] * 6, atol=1e-6)
    assert set(det.to_dict()["keypoints"]) == set(bf.KEYPOINTS)


def test_score_threshold_drops_weak_detections():
    regressors, classificators = _raw({100: (0, 0, 20, 20, 0.1), 700: (0, 0, 20, 20, -0.1)})
    assert len(bf.decode(regressors, classificators, score_threshold=0.5)) == 1
    assert len(bf.decode(regressors, classificators, score_threshold=0.4)) == 2


def test_weighted_nms_merges_duplicates_and_keeps_separate_faces():
    # Anchors 0 and 1 share a centre: two near-identical boxes; 895 is far away.
    regressors, classificators = _raw({0: (0, 0, 20, 20, 2.0), 1: (2, 0, 20, 20, 1.0),
                                       895: (0, 0, 16, 16, 1.5)})
    dets = bf.decode(regressors, classificators)
    assert len(dets) == 2
    best, other = dets
    s0, s1 = 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(-1.0))
    assert best.score == pytest.approx(s0)  # the merged face keeps the best score
    # ... and a score-weighted mean position: shifted by s1 / (s0 + s1) of 2 pixels.
    centre = (best.box[0] + best.box[2]) / 2
    expected = bf.anchors()[0, 0] + (2 / 128) * s1 / (s0 + s1)
    assert centre == pytest.approx(expected, abs=1e-6)
    assert other.score == pytest.approx(1 / (1 + np.exp(-1.5)))
    assert other.box[0] > 0.8


def test_prepare_square_letterboxes_and_maps_back():
    photo = np.zeros((100, 300, 3), np.uint8)
    photo[40:60, 140:160] = 255  # a white square in the middle
    square, box = bf.prepare_square(photo, size=30)
    assert square.shape == (30, 30, 3) and square.dtype == np.float32
    assert (box.side, box.pad_x, box.pad_y) == (300, 0, 100)
    # 300 px -> 30: 10 px per output pixel; the photo occupies rows 10..19.
    assert square[:10].max() == 0 and square[20:].max() == 0
    assert square[14:16, 14:16].min() == pytest.approx(255)
    det = bf.Detection(box=(140 / 300, 140 / 300, 160 / 300, 160 / 300), score=0.9,
                       keypoints=np.array([[0.5, 0.5]] * 6))
    (mapped,) = bf.to_photo([det], box)
    np.testing.assert_allclose(mapped.box, [140, 40, 160, 60], atol=1e-9)
    np.testing.assert_allclose(mapped.keypoints[0], [150, 50])


def test_prepare_square_area_average_preserves_mean():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    square, _ = bf.prepare_square(photo, size=128)
    np.testing.assert_allclose(square.mean(), photo.mean(), rtol=1e-5)
    np.testing.assert_allclose(square[0, 0], photo[:2, :2].reshape(-1, 3).mean(axis=0), rtol=1e-5)


@pytest.fixture(scope="module")
def blazeface_session(tmp_path_factory):
    """The real model on the CPU. It is not optional: the build (and so `./dev.sh test`)
    caches it, and without the cache it is made here as the build would; if neither can,
    the setup is broken, and the ModelError says how, rather than a skip hiding it."""
    spec = models.load_manifest()["blazeface-short"]
    try:
        path = models.verified_path(spec)
    except ModelError:
        path = models.fetch(spec, root=tmp_path_factory.mktemp("models"))
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _detect(session, photo):
    square, box = bf.prepare_square(photo)
    norm = models.load_manifest()["blazeface-short"].normalisation
    x = (square * norm["scale"] - np.array(norm["mean"])) / np.array(norm["std"])
    regressors, classificators = session.run(None, {"input": x.transpose(2, 0, 1)[None].astype(np.float32)})
    return bf.to_photo(bf.decode(regressors, classificators), box)


def test_finds_the_astronauts_face(blazeface_session):
    from skimage import data

    photo = data.astronaut()
    dets = _detect(blazeface_session, photo)
    print("astronaut:", [d.to_dict() for d in dets])
    assert len(dets) == 1
    (face,) = dets
    xmin, ymin, xmax, ymax = face.box
    # Checked by eye: brows to chin, cheek to cheek (about 178, 81 - 272, 175).
    assert 160 < xmin < 200 and 250 < xmax < 290
    assert 60 < ymin < 100 and 155 < ymax < 195
    assert face.score > 0.8
    kp = dict(zip(bf.KEYPOINTS, face.keypoints, strict=True))
    assert kp["right_eye"][0] < kp["left_eye"][0]  # the subject's right eye is on the image's left
    assert kp["right_eye"][1] < kp["nose_tip"][1] < kp["mouth"][1]


def test_finds_the_face_in_a_letterboxed_crop(blazeface_session):
    from skimage import data

    photo = data.astronaut()[:, 100:400]  # portrait orientation: padded left and right
    (face,) = _detect(blazeface_session, photo)
    xmin, ymin, xmax, ymax = face.box
    assert 60 < xmin < 100 and 150 < xmax < 190  # the same face, 100 px further left
    assert 60 < ymin < 100 and 155 < ymax < 195
