"""The package's layers, read from the source: a tool imports only the core, and the
core knows the tools only through the registry, which the hosts use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "py" / "darkroom"
#: Core modules that may use the registry of tools: the hosts and the package docs.
REGISTRY_USERS = {"darkroom.cli", "darkroom.browser", "darkroom.host"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (also inside functions), absolute."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from . import lens" imports the module darkroom.tools.x.lens.
            found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
    return found


def tool_of(module: str) -> str | None:
    """``"upscale"`` for ``darkroom.tools.upscale`` and its modules, else None."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["darkroom", "tools"] else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_reader_sees_relative_imports():
    restore_faces = PACKAGE / "tools" / "restore_faces" / "__init__.py"
    assert "darkroom.face_cascade" in imported_modules(restore_faces)
    assert "darkroom.tools.restore_faces.geometry" in imported_modules(restore_faces)


@pytest.mark.parametrize("path", [p for p in SOURCES if tool_of(module_name(p))], ids=module_name)
def test_a_tool_imports_no_other_tool(path):
    own = tool_of(module_name(path))
    others = sorted(m for m in imported_modules(path) if tool_of(m) not in (None, own))
    assert not others, f"{module_name(path)} imports another tool: {others}"


@pytest.mark.parametrize("path", [p for p in SOURCES if not module_name(p).startswith("darkroom.tools")],
                         ids=module_name)
def test_the_core_reaches_tools_only_through_the_registry(path):
    name = module_name(path)
    reached = sorted(m for m in imported_modules(path) if m == "darkroom.tools" or tool_of(m))
    if name in REGISTRY_USERS:
        reached = [m for m in reached if m not in ("darkroom.tools", "darkroom.tools.registry")]
    assert not reached, f"{name} imports the tools: {reached}"
