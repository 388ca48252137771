"""The model files in ``dist/models``, each verified against ``models/manifest.json``."""

from __future__ import annotations

import json
import shutil

from darkroom import models
from site_build.common import DIST, ROOT, log


def copy_models(optional: bool) -> list[models.ModelSpec]:
    """Verify and copy the models into ``dist/models`` with a manifest of exactly those.

    Optional models (a TensorFlow conversion each) ship only when asked for; without
    them their tools run the classical path and say the model is not in this build.

    Parameters
    ----------
    optional : bool
        Also ship the optional models.

    Returns
    -------
    list of ModelSpec
        The models shipped, in manifest order.
    """
    out = DIST / "models"
    out.mkdir(parents=True, exist_ok=True)
    document = json.loads((models.REPO_MODELS_DIR / "manifest.json").read_text())
    manifest = models.parse_manifest(document)
    shipped = [spec for spec in manifest.values() if optional or not spec.optional]
    for spec in shipped:
        cached = models.fetch(spec, search_dirs=[ROOT])
        for model_file in spec.files:
            target = out / model_file.name
            if not (target.is_file() and target.stat().st_size == model_file.bytes
                    and models.sha256_file(target) == model_file.sha256):
                shutil.copy2(cached, target)
        log(f"model {spec.id}: verified")
    kept = {f.name for spec in shipped for f in spec.files} | {"manifest.json"}
    for stale in out.iterdir():
        if stale.name not in kept:
            stale.unlink()
    left_out = sorted(set(manifest) - {spec.id for spec in shipped})
    if left_out:
        log(f"optional models left out (build with --optional-models to ship them): {', '.join(left_out)}")
    document["models"] = {spec.id: document["models"][spec.id] for spec in shipped}
    (out / "manifest.json").write_text(json.dumps(document, indent=2))
    return shipped
