"""The tool registry and the catalog the page builds its controls from."""

import json

from darkroom import models
from darkroom.tools import catalog, registry


def test_catalog_lists_every_tool_with_its_controls_and_only_the_given_models():
    manifest = models.load_manifest()
    shipped = {key: spec for key, spec in manifest.items() if not spec.optional}
    described = json.loads(json.dumps(catalog(shipped)))  # JSON-able as written into build.json
    assert [tool["id"] for tool in described["tools"]] == list(registry())
    upscale = next(tool for tool in described["tools"] if tool["id"] == "upscale")
    assert {"scale", "model", "classical"} <= {param["name"] for param in upscale["params"]}
    assert set(described["models"]) == set(shipped)
    assert "maxim-denoise" not in described["models"] and "maxim-denoise" in manifest
