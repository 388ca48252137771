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


def test_every_tool_sits_in_a_group_and_the_catalog_orders_the_groups():
    import pytest

    from darkroom.tool import GROUPS, Tool

    described = catalog({})
    assert described["groups"] == list(GROUPS)
    assert {tool["group"] for tool in described["tools"]} <= set(GROUPS)
    with pytest.raises(ValueError, match="group must be one of"):
        Tool(id="x", title="X", description="", params=(), models=(), classical=lambda p, q: p, group="Misc")


def test_only_tools_with_a_model_path_offer_classical_only_and_a_model_choice():
    for tool in registry().values():
        names = {param.name for param in tool.all_params()}
        assert ("classical" in names) == (tool.run_model is not None), tool.id
        assert ("model" in names) == bool(tool.models or tool.signature), tool.id


def test_mask_params_take_a_two_dimensional_array_or_nothing():
    import numpy as np
    import pytest

    from darkroom.tool import Param, ParamError

    param = Param("mask", "Mask", "mask", None)
    assert param.parse(None) is None
    painted = param.parse(np.eye(3, dtype=np.uint8))
    assert painted.dtype == bool and painted.sum() == 3
    with pytest.raises(ParamError, match=r"mask must be a painted mask, not an array of shape \(3, 3, 3\)"):
        param.parse(np.zeros((3, 3, 3)))
    with pytest.raises(ParamError, match="not 'x'"):
        param.parse("x")


def test_a_param_shown_only_for_some_values_says_so_in_the_catalog():
    background = next(t for t in catalog({})["tools"] if t["id"] == "remove-background")
    color = next(p for p in background["params"] if p["name"] == "color")
    assert color["shown_when"] == {"param": "output", "values": ["color"]}


def test_a_param_of_an_unknown_kind_is_refused_when_the_tool_is_written():
    import pytest

    from darkroom.tool import Param

    with pytest.raises(ValueError, match="kind must be one of"):
        Param("size", "Size", "integer", 3)
