"""The browser host: runs inside Pyodide in a Web Worker (see ``web/worker.js``).

``BrowserRuntime`` implements ``runtime.Runtime`` over ``bridge.js`` (onnxruntime-web);
``BrowserApp`` is what the worker calls: it runs tools through ``host.run_file`` with
the browser's decoder helping Pillow's.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import numpy as np
from js import Object
from pyodide.ffi import create_proxy, to_js

from . import byom, imaging, tiers
from .engine import EARLY_MAX_PIXELS, Start, ToolError, path_of, plan_attempts
from .host import ImageFile, run_file
from .memory import Budget
from .models import ModelError, TensorSpec, parse_manifest
from .runtime import RuntimeFailure, Session
from .tool import Tool
from .tools import registry


def _js_object(value):
    return to_js(value, dict_converter=Object.fromEntries)


#: onnxruntime-web's tensor types as numpy dtypes.
_NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32,
                 "uint8": np.uint8, "int8": np.int8}


def _raise_for(reply: dict) -> None:
    error = reply.get("error")
    if error:
        raise (ModelError if error["kind"] in ("unverified", "download") else RuntimeFailure)(error["message"])


class BrowserRuntime:
    """onnxruntime-web through ``bridge.js``; one cached session per (model, backend)."""

    host = "browser"

    def __init__(self, bridge, webgpu_features: frozenset[str] | None) -> None:
        self._bridge = bridge
        self._webgpu_features = webgpu_features
        # One load per session, shared by whoever asks while it is in flight (warm-up and a run).
        self._sessions: dict[tuple[str, str], asyncio.Future] = {}
        # Label notes for inferences that started before Python was ready.
        self._notes: list[str] = []

    def plan(self, candidates, tier):
        attempts = tiers.plan(candidates, tier, self._webgpu_features)
        if len(candidates) == 1 and tier.models_allowed and all(a.backend != "wasm" for a in attempts):
            # A model the user picked: WASM runs any model, as the last resort before classical.
            attempts.append(tiers.Attempt(candidates[0], "wasm"))
        return attempts

    async def _create(self, spec, backend) -> Session:
        reply = (await self._bridge.loadModel(json.dumps(spec.to_dict()), backend)).to_py()
        _raise_for(reply)
        return Session(spec.id, reply["backend"], reply["loadMs"], reply["handle"])

    async def load(self, spec, backend):
        key = (spec.id, backend)
        if key not in self._sessions:
            self._sessions[key] = asyncio.ensure_future(self._create(spec, backend))
        try:
            return await self._sessions[key]
        except Exception:
            self._sessions.pop(key, None)  # let the next run try again
            raise

    async def run(self, session, feeds, outputs):
        proxies = {name: create_proxy(np.ascontiguousarray(array)) for name, array in feeds.items()}
        try:
            reply = await self._bridge.run(session.handle, _js_object(proxies), to_js(outputs))
        finally:
            for proxy in proxies.values():
                proxy.destroy()
        if hasattr(reply, "error"):
            error = reply.error.to_py()
            if error["kind"] == "aborted":  # bridge.js replaced the model worker: every session went with it
                self._sessions.clear()
                error["message"] += "; its worker was replaced, so the next run starts with all of its memory"
            _raise_for({"error": error})
        if hasattr(reply, "early"):
            self._notes.append(
                f"The model started on the browser's decode of the photo {reply.early.aheadMs / 1000:.1f} s before this"
                f" run asked for it (inference {reply.inferMs / 1000:.1f} s), while Python was starting; this run's own"
                " input was checked to be identical before that result was used.")
        result = {}
        for name in outputs:
            out = getattr(reply.outputs, name)
            dtype = _NUMPY_DTYPES.get(str(out.type))
            if dtype is None:
                raise RuntimeFailure(f"output {name} is {out.type}, which no tool reads")
            try:
                result[name] = np.frombuffer(out.data.to_bytes(), dtype=dtype).reshape(out.dims.to_py())
            except Exception as exc:  # Pyodide's own errors: a run whose output cannot be read falls back
                raise RuntimeFailure(f"output {name} ({out.type}) could not be read: {exc}") from exc
        return result

    async def release(self, session):
        self._sessions.pop((session.model_id, session.backend), None)
        await self._bridge.release(session.handle)

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes


def _blob_file(blob) -> ImageFile:
    """A JS Blob (or File) as a ``host.ImageFile``."""

    async def read() -> bytes:
        return (await blob.arrayBuffer()).to_bytes()

    return ImageFile(int(blob.size), read)


async def _browser_rgba(reply) -> np.ndarray:
    """uint8 (H, W, 4) pixels of a ``bridge.decodeWithBrowser`` reply."""
    rgba = np.frombuffer((await reply.pixels()).to_bytes(), dtype=np.uint8)
    return rgba.reshape(int(reply.height), int(reply.width), 4)


async def _browser_rgb(reply) -> np.ndarray:
    """uint8 (H, W, 3) pixels of a ``bridge.decodeWithBrowser`` reply, copied once, straight
    into the array (no RGBA or bytes object on the way: at 12 MP that is 96 MB less)."""
    rgb = np.empty((int(reply.height), int(reply.width), 3), dtype=np.uint8)
    (await reply.rgb()).assign_to(rgb)
    return rgb


#: Above this, a JPEG keeps Pillow's pixels: the browser's copy beside them would cost
#: 3 bytes a pixel more while both are held (no early inference waits for them).
BROWSER_JPEG_MAX_PIXELS = EARLY_MAX_PIXELS

# Formats whose embedded ICC profile Chromium applies when it decodes them.
BROWSER_MANAGED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})

#: Pyodide's heap is wasm32 memory: it grows to 4 GiB and never shrinks.
WASM32_HEAP = 4 * 2**30
#: Left out of a run's budget: Python's own objects, packages loaded later (scipy,
#: scikit-image) and the fragmentation big arrays leave behind.
HEAP_RESERVE = 768 * 2**20


def python_memory() -> Budget:
    """What a run may use of the page's Python heap: the wasm32 cap, less what the heap
    held when Python started and a reserve."""
    try:
        import pyodide_js

        at_start = int(pyodide_js._module.HEAP8.length)
    except (ImportError, AttributeError):
        at_start = 256 * 2**20  # about what it holds after start-up with numpy and Pillow
    return Budget(WASM32_HEAP - at_start - HEAP_RESERVE, "in this browser",
                  "Crop it, or run it with Darkroom's command line (darkroom {tool}), "
                  "which can use all of the computer's memory.")


#: Runs on photos smaller than this teach the page nothing about a tool's pace.
LEARN_FROM_PIXELS = 1_000_000


class BrowserApp:
    """The page's Python side. Created once by the worker with the served manifest."""

    def __init__(self, bridge, manifest_json: str, probe_json: str, load_packages, report) -> None:
        self.models = parse_manifest(json.loads(manifest_json))
        self.tools = registry()
        self.probe = json.loads(probe_json)
        self.recommended = tiers.decide(self.probe)
        webgpu = self.probe.get("webgpu") or {}
        # Any adapter counts here: a tier the user forces may run on a software one.
        features = frozenset(webgpu.get("features") or ()) if webgpu.get("available") else None
        self._bridge = bridge
        self.runtime = BrowserRuntime(bridge, features)
        self._load_packages_js = load_packages
        self._report = report  # the worker's progress event sink
        self.memory = python_memory()
        # The last run of each (tool, path) here: (seconds, megapixels), less one-time costs.
        self._runs: dict[tuple[str, str], tuple[float, float]] = {}

    def _announce(self, tool: Tool, start: Start) -> None:
        """Tell the page how long the path starting now should take, when that is known:
        the declared rate, scaled by how much faster or slower the last run here was."""
        last = self._runs.get((tool.id, start.path))
        if last is None and start.rate is None:
            return
        if last is None:
            seconds = start.rate.seconds(start.megapixels)
        elif start.rate is None:
            seconds = last[0] * start.megapixels / last[1]
        else:
            seconds = last[0] / start.rate.seconds(last[1]) * start.rate.seconds(start.megapixels)
        self._report(_js_object({"stage": "estimate", "seconds": seconds, "path": start.path,
                                 "megapixels": start.megapixels, "measuredHere": last is not None}))

    def _learn_pace(self, tool: Tool, provenance) -> None:
        """Keep how long a finished run took, less its one-time costs (downloads, packages)."""
        width, height = provenance.input_size
        if width * height < LEARN_FROM_PIXELS:
            return  # a small photo's time is mostly fixed costs, not its pixels
        timings = provenance.timings_ms
        working = timings["total"] - timings.get("load", 0) - timings.get("packages", 0)
        self._runs[(tool.id, path_of(provenance))] = (working / 1000, width * height / 1e6)

    def tier(self, name: str = "auto") -> tiers.Tier:
        """The recommended tier, or the one the user chose (raises ValueError for a bad name)."""
        return self.recommended if name == "auto" else tiers.override(self.recommended, name)

    def tier_json(self, name: str = "auto") -> str:
        return json.dumps({**self.tier(name).to_dict(), "recommended": self.recommended.name})

    async def _load_packages(self, names: tuple[str, ...]) -> None:
        await self._load_packages_js(to_js(list(names)))

    async def warm(self, tool_id: str, tier_name: str = "auto", params_json: str = "{}") -> str:
        """Download, verify and load the model a run of ``tool_id`` with ``params_json``
        (defaults filled in) would try first, with its companion (e.g. an image generator).

        Returns ``"model@backend"``, or ``""`` when nothing would run; failures are left
        for the run to report (and fall back from).
        """
        tool = self.tools[tool_id]
        try:
            params = tool.resolve(json.loads(params_json))
            if params.get("classical"):
                return ""
            attempts = plan_attempts(tool, params, self.models, self.runtime, self.tier(tier_name))[0]
        except (ValueError, ToolError):
            return ""  # the run will say what is wrong
        for attempt in attempts:
            if not attempt.skip:
                try:
                    for part in attempt.spec.sessions.values():
                        await self.runtime.load(part, attempt.backend)
                except (ModelError, RuntimeFailure):
                    pass
                return attempt.name
        return ""

    def register_user_model(self, tool_id: str, files_json: str, slot: str = "model") -> str:
        """Check a user's model against what the tool feeds it and make it runnable as
        ``params[slot]`` (``"model"``, or a companion's parameter such as ``"generator"``).

        ``files_json``: a list of ``{"name", "sha256", "size", "found": {"inputs",
        "outputs"}}``, each file's tensors as onnxruntime-web read them (one file a part
        for a model in parts).

        Returns JSON: ``{"id", "title"}``, or ``{"error"}`` with the reason it does not fit.
        """
        tool = self.tools.get(tool_id)
        signature = tool.user_signature(slot) if tool else None
        if signature is None:
            return json.dumps({"error": f"{tool_id} does not take your own models as its {slot}."})
        files = [byom.UserFile(f["name"], f["sha256"], int(f["size"]),
                               *(tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in f["found"][kind])
                                 for kind in ("inputs", "outputs")))
                 for f in json.loads(files_json)]
        try:
            spec = byom.user_spec(tool.id, signature, files)
        except ModelError as exc:
            return json.dumps({"error": str(exc)})
        self.models[spec.id] = spec
        return json.dumps({"id": spec.id, "title": spec.title})

    async def _decode(self, blob, data: bytes, max_pixels: int, max_bytes: int) -> imaging.Decoded:
        """Pillow's decode, with the browser's own decoder where Pillow in Pyodide falls
        short: AVIF and HEIC (Chromium decodes AVIF, not HEIC), embedded colour profiles,
        which need littlecms (Pyodide's Pillow has none; browsers manage colour), and
        JPEG's pixels (see ``_jpeg_decoded_by_browser``)."""
        try:
            image = imaging.decode(data, max_pixels=max_pixels, max_bytes=max_bytes)
        except imaging.ImageError:
            kind = imaging.heif_kind(data)
            if kind is None:
                raise
            return await self._decode_heif(blob, kind, max_pixels)
        if imaging.NO_COLOUR_MANAGEMENT_NOTE in image.notes and image.format in BROWSER_MANAGED_FORMATS:
            return await self._colour_managed(blob, image)
        if image.format == "JPEG" and image.pixels.ndim == 3 and image.pixels.size <= 3 * BROWSER_JPEG_MAX_PIXELS:
            return await self._jpeg_decoded_by_browser(blob, image)
        return image

    async def _browser_decode_of(self, blob, image: imaging.Decoded):
        """The browser's ``decodeWithBrowser`` reply for ``image``'s file, or None when it
        fails or comes out another size."""
        reply = await self._bridge.decodeWithBrowser(blob)
        height, width = image.pixels.shape[:2]
        if hasattr(reply, "error") or (int(reply.width), int(reply.height)) != (width, height):
            return None
        return reply

    async def _colour_managed(self, blob, image: imaging.Decoded) -> imaging.Decoded:
        """``image`` decoded again by the browser, which applies its ICC profile; the
        other notes (orientation, depth, frames) hold for the browser's pixels too."""
        reply = await self._browser_decode_of(blob, image)
        if reply is None:
            return image  # keep Pillow's pixels and its note saying the profile was ignored
        notes = tuple("Converted from the embedded colour profile to sRGB by the browser."
                      if note == imaging.NO_COLOUR_MANAGEMENT_NOTE else note for note in image.notes)
        return imaging.from_rgba(await _browser_rgba(reply), image.format, notes, image.exif)

    async def _jpeg_decoded_by_browser(self, blob, image: imaging.Decoded) -> imaging.Decoded:
        """``image`` with the browser's pixels for its JPEG file.

        JPEG leaves the inverse DCT to the decoder, and Pyodide's libjpeg rounds a
        quarter of the pixels one level off Chromium's libjpeg-turbo (which the CLI's
        Pillow uses too). Taking the browser's pixels makes the page's input the CLI's,
        and the model worker's early decode of the photo (``worker.js``'s startEarly).
        A decode that disagrees beyond rounding (another orientation, say) is not used.
        """
        reply = await self._browser_decode_of(blob, image)
        if reply is None:
            return image
        rgb = await _browser_rgb(reply)
        sample = (slice(None, None, 17), slice(None, None, 17))
        if np.abs(rgb[sample].astype(np.int16) - image.pixels[sample]).mean() > 2:
            return image
        return replace(image, pixels=rgb)

    async def _decode_heif(self, blob, kind: str, max_pixels: int) -> imaging.Decoded:
        reply = await self._bridge.decodeWithBrowser(blob)
        if hasattr(reply, "error"):
            if kind == "HEIC":
                raise imaging.ImageError("This browser cannot decode HEIC photos; export it as JPEG or PNG first.")
            raise imaging.ImageError(f"The AVIF image could not be decoded ({str(reply.error).rstrip('.')}).")
        imaging.check_dimensions((int(reply.width), int(reply.height)), max_pixels)
        return imaging.from_rgba(await _browser_rgba(reply), kind,
                                 (f"{kind} decoded by the browser (colours converted to sRGB by it).",))

    async def run(self, tool_id: str, blob, params_json: str, blobs=None):
        """Run a tool on an image file (a JS Blob), read only once its size is allowed.

        ``params_json`` may hold, besides the tool's parameters, ``tier`` (a tier name)
        and ``limits`` (``{"maxMegapixels": float, "maxMegabytes": float}``). ``blobs``
        (a JS object) holds the values of "mask" parameters as image files.

        Returns a JS object: ``{file: Uint8Array, mime: str, provenance: str, data: str}`` on success
        (``data``: the tool's findings as JSON, ``"null"`` when it has none),
        ``{error: str}`` when the input or the tool cannot produce a result.
        """
        try:
            tool = self.tools.get(tool_id)
            if tool is None:
                raise ToolError(f"There is no tool called {tool_id}.")
            params = json.loads(params_json)
            try:
                tier = self.tier(params.pop("tier", "auto"))
            except ValueError as exc:
                raise ToolError(str(exc)) from exc
            limits = params.pop("limits", None) or {}
            if not isinstance(limits, dict):
                raise ToolError(f"Bad limits: expected maxMegapixels and maxMegabytes, not {limits!r}.")
            masks = {p.name: _blob_file(getattr(blobs, p.name)) for p in tool.params
                     if p.kind == "mask" and blobs is not None and hasattr(blobs, p.name)}

            async def decode(data: bytes, max_pixels: int, max_bytes: int) -> imaging.Decoded:
                return await self._decode(blob, data, max_pixels, max_bytes)

            def work_progress(done: int, total: int) -> None:
                self._report(_js_object({"stage": "work", "done": done, "total": total,
                                         "message": f"{tool.title}: part {done} of {total}"}))

            finished = await run_file(tool, _blob_file(blob), params, masks=masks, runtime=self.runtime,
                                      models=self.models, tier=tier,
                                      limits=(limits.get("maxMegapixels"), limits.get("maxMegabytes")),
                                      decode=decode, load_packages=self._load_packages, progress=work_progress,
                                      memory=self.memory, starting=lambda start: self._announce(tool, start))
        except (imaging.ImageError, ToolError) as exc:
            return _js_object({"error": str(exc)})
        except KeyboardInterrupt:  # the page's Cancel, through Pyodide's interrupt buffer; the page words it
            return _js_object({"cancelled": True})
        self._learn_pace(tool, finished.result.provenance)
        return _js_object({"file": memoryview(finished.file), "mime": finished.mime,
                           "provenance": finished.result.provenance.to_json(),
                           "data": json.dumps(finished.result.data)})
