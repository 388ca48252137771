"""Small numeric checks of the scikit-image / PyWavelets functions the app relies on.

The same code runs in CPython with the official wheels (the reference) and in Pyodide
with the wheels built by ``pyodide_wheels.py``; ``check_in_node.mjs`` compares the two.

    python wasm/skimage_checks.py --out ref.npz     # write every result to an .npz

Each check returns arrays (or numbers) computed from fixed, seeded inputs. A check
that raises records the error text instead, so one broken module does not hide the
others.
"""

from __future__ import annotations

import argparse
import io
import json
import traceback

import numpy as np

#: Per check: absolute tolerance for float results. Integer/boolean results must match
#: exactly. Float results may differ in the last bits (musl vs glibc libm, wasm vs x86
#: FMA contraction), which iterative algorithms can amplify a little.
TOLERANCE = {
    "restoration.unsupervised_wiener": 1e-5,
    "restoration.richardson_lucy": 1e-6,
    "segmentation.slic": 0,
}
DEFAULT_TOLERANCE = 1e-7


def _image(shape=(48, 64), seed=0):
    """A smooth test picture with edges and noise, float64 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = 0.5 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    img[shape[0] // 4: shape[0] // 2, shape[1] // 4: shape[1] // 2] += 0.3
    img += 0.05 * rng.standard_normal(shape)
    return np.clip(img, 0, 1)


def _rgb(shape=(48, 64)):
    return np.stack([_image(shape, 1), _image(shape, 2) ** 2, 1 - _image(shape, 3)], axis=-1)


def _blobs(shape=(48, 64)):
    """Binary image with a few discs and specks."""
    from skimage.draw import disk
    mask = np.zeros(shape, bool)
    for (r, c, rad) in ((12, 14, 7), (30, 40, 9), (36, 12, 5), (10, 50, 4)):
        rr, cc = disk((r, c), rad, shape=shape)
        mask[rr, cc] = True
    mask[2, 2] = mask[45, 60] = mask[20, 30] = True
    return mask


def check_color():
    from skimage import color
    rgb = _rgb()
    lab = color.rgb2lab(rgb)
    return {"rgb2lab": lab, "lab2rgb": color.lab2rgb(lab), "rgb2gray": color.rgb2gray(rgb),
            "rgb2hsv": color.rgb2hsv(rgb)}


def check_transform():
    from skimage import transform
    img = _image()
    tform = transform.AffineTransform(rotation=0.2, translation=(3, -2), scale=1.1)
    return {"resize": transform.resize(img, (30, 41), anti_aliasing=True),
            "resize_order3": transform.resize(img, (70, 90), order=3),
            "rescale": transform.rescale(_rgb(), 0.5, channel_axis=-1, anti_aliasing=True),
            "warp": transform.warp(img, tform.inverse, order=1),
            "rotate": transform.rotate(img, 17, resize=True)}


def check_filters():
    from skimage import filters
    img = _image()
    return {"sobel": filters.sobel(img), "gaussian": filters.gaussian(img, sigma=1.5),
            "threshold_otsu": np.float64(filters.threshold_otsu(img)),
            "threshold_multiotsu": filters.threshold_multiotsu(img, classes=3),
            "median": filters.median((img * 255).astype(np.uint8)),
            "rank_mean": filters.rank.mean((img * 255).astype(np.uint8), np.ones((3, 3), np.uint8))}


def check_segmentation():
    from scipy import ndimage as ndi
    from skimage import segmentation
    mask = _blobs()
    distance = ndi.distance_transform_edt(mask)
    markers, _ = ndi.label(distance > 3)
    out = {"watershed": segmentation.watershed(-distance, markers, mask=mask),
           "slic": segmentation.slic(_rgb(), n_segments=20, compactness=10, start_label=1, channel_axis=-1),
           "felzenszwalb": segmentation.felzenszwalb(_image(), scale=50),
           "find_boundaries": segmentation.find_boundaries(markers),
           "relabel_sequential": segmentation.relabel_sequential(markers * 3)[0]}
    return out


def check_morphology():
    from skimage import morphology
    mask = _blobs()
    return {"disk3": morphology.disk(3), "remove_small_objects": morphology.remove_small_objects(mask, 10),
            "binary_opening": morphology.binary_opening(mask, morphology.disk(2)),
            "binary_closing": morphology.binary_closing(mask, morphology.disk(2)),
            "binary_dilation": morphology.binary_dilation(mask, morphology.disk(1)),
            "binary_erosion": morphology.binary_erosion(mask, morphology.disk(1)),
            "remove_small_holes": morphology.remove_small_holes(~mask, 20),
            "skeletonize": morphology.skeletonize(mask),
            "skeletonize_3d_lee": morphology.skeletonize(np.stack([mask] * 5), method="lee"),  # C++ module
            "reconstruction": morphology.reconstruction(_image() - 0.2, _image(), method="dilation")}


def check_measure():
    from skimage import measure
    labels = measure.label(_blobs())
    props = measure.regionprops(labels, intensity_image=_image())
    table = np.array([[p.area, *p.centroid, *p.bbox, p.eccentricity, p.intensity_mean, p.perimeter]
                      for p in props])
    return {"label": labels, "regionprops": table, "find_contours": measure.find_contours(_image(), 0.5)[0]}


def check_restoration():
    from skimage import restoration
    img = _image((32, 40))
    psf = np.ones((3, 3)) / 9
    from scipy.signal import convolve2d
    blurred = convolve2d(img, psf, "same")
    mask = np.zeros(img.shape, bool)
    mask[10:14, 12:20] = True
    return {"nl_means_fast": restoration.denoise_nl_means(img, h=0.08, patch_size=5, patch_distance=4,
                                                          fast_mode=True),
            "nl_means_slow": restoration.denoise_nl_means(img, h=0.08, patch_size=5, patch_distance=4,
                                                          fast_mode=False),
            "tv_chambolle": restoration.denoise_tv_chambolle(img, weight=0.1),
            "bilateral": restoration.denoise_bilateral(img, sigma_color=0.1, sigma_spatial=2),
            "wavelet": restoration.denoise_wavelet(img, sigma=0.05, rescale_sigma=True),
            "inpaint_biharmonic": restoration.inpaint_biharmonic(img, mask),
            "richardson_lucy": restoration.richardson_lucy(blurred, psf, num_iter=10),
            "unsupervised_wiener": restoration.unsupervised_wiener(blurred, psf, rng=0)[0],
            "wiener": restoration.wiener(blurred, psf, 0.1)}


def check_feature():
    from skimage import feature
    img = _image()
    return {"canny": feature.canny(img, sigma=2), "peak_local_max": feature.peak_local_max(img, min_distance=5),
            "hessian_det": feature.hessian_matrix_det(img, sigma=2),       # pythran module
            "haar": feature.haar_like_feature(img[:12, :12].astype(np.float64).cumsum(0).cumsum(1),
                                              0, 0, 12, 12, "type-2-x"),  # C++ (Cython) module
            "corner_harris": feature.corner_harris(img),
            "brief": _brief(img),                                            # pythran module
            "pythran_type_error": _pythran_rejects_wrong_dtype()}


def _brief(img):
    from skimage.feature import BRIEF
    extractor = BRIEF(descriptor_size=64, patch_size=15, rng=1)
    # int64 keypoints: with the platform's default int (int32 on wasm32) skimage 0.25's
    # BRIEF.extract raises "Unable to avoid copy" (np.array(..., copy=False)), an
    # upstream 32-bit issue that the official Pyodide wheel shares.
    extractor.extract(img, np.array([[20, 20], [24, 30], [30, 40]], dtype=np.int64))
    return extractor.descriptors


def _pythran_rejects_wrong_dtype():
    """A pythran module must raise TypeError for a type it was not compiled for
    (an error path through C++ code), not crash the interpreter."""
    from skimage.feature.brief_cy import _brief_loop
    try:
        _brief_loop(np.zeros((4, 4), np.int8), np.zeros((1, 1), np.uint8), np.zeros((1, 2), np.int64),
                    np.zeros((1, 2), np.int32), np.zeros((1, 2), np.int32))
    except TypeError:
        return np.int64(1)
    return np.int64(0)


def check_exposure():
    from skimage import exposure
    img = _image()
    return {"equalize_adapthist": exposure.equalize_adapthist(img, clip_limit=0.02),
            "equalize_hist": exposure.equalize_hist(img),
            "rescale_intensity": exposure.rescale_intensity(img, in_range=(0.2, 0.8))}


def check_util():
    from skimage import util
    img = _image()
    return {"img_as_ubyte": util.img_as_ubyte(img), "img_as_float": util.img_as_float(util.img_as_ubyte(img)),
            "invert": util.invert(img), "random_noise": util.random_noise(img, rng=0),
            "map_array": util.map_array(np.arange(6), np.array([1, 3]), np.array([10, 30]))}


def check_pywt():
    import pywt
    img = _image()
    coeffs = pywt.wavedec2(img, "db2", level=2)
    arr, _ = pywt.coeffs_to_array(coeffs)
    return {"wavedec2": arr, "waverec2": pywt.waverec2(coeffs, "db2"),
            "dwt2_haar": np.stack(pywt.dwt2(img, "haar")[1]), "swt": pywt.swt(img[0, :32], "sym4", level=2)[0][1]}


CHECKS = {"color": check_color, "transform": check_transform, "filters": check_filters,
          "segmentation": check_segmentation, "morphology": check_morphology, "measure": check_measure,
          "restoration": check_restoration, "feature": check_feature, "exposure": check_exposure,
          "util": check_util, "pywt": check_pywt}


def run_all() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Run every check; returns ``({"group.name": array}, {"group": error})``."""
    results, errors = {}, {}
    for group, check in CHECKS.items():
        try:
            for name, value in check().items():
                results[f"{group}.{name}"] = np.asarray(value)
        except Exception:  # recorded and reported, never hidden
            errors[group] = traceback.format_exc(limit=3)
    return results, errors


def to_npz(results: dict[str, np.ndarray], errors: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __errors__=np.array(json.dumps(errors)), **results)
    return buffer.getvalue()


def compare(reference: dict[str, np.ndarray], ref_errors: dict[str, str],
            results: dict[str, np.ndarray], errors: dict[str, str]) -> list[dict]:
    """One row per check: ``{check, ok, diff, tol, note}``; ``diff`` is the max abs difference."""
    rows = []
    for group in CHECKS:
        if group in errors or group in ref_errors:
            rows.append({"check": group, "ok": False, "diff": None, "tol": None,
                         "note": (errors.get(group) or "reference failed: " + ref_errors[group]).strip()})
            continue
        for key in sorted(k for k in reference if k.split(".")[0] == group):
            ref, got = reference[key], results.get(key)
            tol = TOLERANCE.get(key, DEFAULT_TOLERANCE)
            if got is None or got.shape != ref.shape:
                rows.append({"check": key, "ok": False, "diff": None, "tol": tol,
                             "note": f"shape {None if got is None else got.shape} != {ref.shape}"})
                continue
            if ref.dtype.kind in "biu" and got.dtype.kind in "biu":
                diff = float(np.max(np.abs(ref.astype(np.int64) - got.astype(np.int64)), initial=0))
                tol = 0 if key not in TOLERANCE else tol
            else:
                diff = float(np.max(np.abs(ref.astype(np.float64) - got.astype(np.float64)), initial=0))
            rows.append({"check": key, "ok": diff <= tol, "diff": diff, "tol": tol, "note": ""})
    return rows


def load_npz(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "__errors__"}
        errors = json.loads(str(npz["__errors__"]))
    return arrays, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="write results here (.npz)")
    args = parser.parse_args()
    results, errors = run_all()
    with open(args.out, "wb") as fh:
        fh.write(to_npz(results, errors))
    import skimage
    print(json.dumps({"skimage": skimage.__version__, "checks": len(results), "errors": errors}))


if __name__ == "__main__":
    main()
