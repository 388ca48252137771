"""The tool registry. Each tool is one sub-package of ``darkroom.tools`` exposing ``TOOL``.

Adding a tool means adding a folder here (and, for a model path, a manifest entry);
the engine, the CLI and the page discover it from this registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..imaging import OUTPUT_FORMATS
from ..tiers import MEANINGS
from ..tool import GROUPS, Tool


def registry() -> dict[str, Tool]:
    """All tools, by id, discovered from the sub-packages of ``darkroom.tools``."""
    tools = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        tool = getattr(module, "TOOL", None)
        if isinstance(tool, Tool):
            tools[tool.id] = tool
    return tools


def catalog(models: dict) -> dict:
    """Every tool, the output formats (by MIME type: the name and extension the page
    shows and downloads under), the given models and the tiers (by name: what each
    runs, in words), JSON-able: what the page builds its
    tool picker and controls from.

    ``build.py`` writes it into ``dist/build.json`` so the page shows its tools before
    Python has started.

    Parameters
    ----------
    models : dict
        ``{id: ModelSpec}``, the models the build ships.
    """
    return {"groups": list(GROUPS), "tools": [tool.to_dict() for tool in registry().values()],
            "formats": {known.mime: {"title": known.title, "extension": known.extension}
                        for known in OUTPUT_FORMATS.values()},
            "models": {spec.id: spec.to_dict() for spec in models.values()},
            "tiers": dict(MEANINGS)}
