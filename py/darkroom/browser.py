"""The browser host: runs inside Pyodide in a Web Worker (see ``web/worker.js``).

``BrowserRuntime`` implements ``runtime.Runtime`` over ``bridge.js`` (onnxruntime-web);
``BrowserApp`` is what the worker calls: decode, run a tool, encode, label.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
from js import Object
from pyodide.ffi import create_proxy, to_js

from . import imaging
from .engine import ToolError, choose_model, run_tool
from .models import ModelError, parse_manifest
from .provenance import Stopwatch
from .runtime import RuntimeFailure, Session
from .tiers import DEFAULT as DEFAULT_TIER
from .tools import registry


def _js_object(value):
    return to_js(value, dict_converter=Object.fromEntries)


def _raise_for(reply: dict) -> None:
    error = reply.get("error")
    if error:
        raise (ModelError if error["kind"] in ("unverified", "download") else RuntimeFailure)(error["message"])


class BrowserRuntime:
    """onnxruntime-web through ``bridge.js``; one cached session per model."""

    host = "browser"
    # onnxruntime-web WASM, 2 threads: quint8 ISNet 4-5 s, fp16 7-8 s; quint8 is also half the download.
    variant_preference = ("quint8", "fp16")

    def __init__(self, bridge, backend: str = "wasm") -> None:
        self._bridge = bridge
        self._backend = backend
        # One load per model, shared by whoever asks while it is in flight (warm-up and a run).
        self._sessions: dict[str, asyncio.Future] = {}

    async def _create(self, spec) -> Session:
        reply = (await self._bridge.loadModel(json.dumps(spec.to_dict()), self._backend)).to_py()
        _raise_for(reply)
        return Session(spec.id, reply["backend"], reply["loadMs"], reply["handle"])

    async def load(self, spec):
        if spec.id not in self._sessions:
            self._sessions[spec.id] = asyncio.ensure_future(self._create(spec))
        try:
            return await self._sessions[spec.id]
        except Exception:
            self._sessions.pop(spec.id, None)  # let the next run try again
            raise

    async def run(self, session, feeds, outputs):
        proxies = {name: create_proxy(np.ascontiguousarray(array)) for name, array in feeds.items()}
        try:
            reply = await self._bridge.run(session.handle, _js_object(proxies), to_js(outputs))
        finally:
            for proxy in proxies.values():
                proxy.destroy()
        if hasattr(reply, "error"):
            _raise_for({"error": reply.error.to_py()})
        result = {}
        for name in outputs:
            out = getattr(reply.outputs, name)
            result[name] = np.frombuffer(out.data.to_bytes(), dtype=np.float32).reshape(out.dims.to_py())
        return result

    async def release(self, session):
        self._sessions.pop(session.model_id, None)
        await self._bridge.release(session.handle)


class BrowserApp:
    """The page's Python side. Created once by the worker with the served manifest."""

    def __init__(self, bridge, manifest_json: str, load_packages) -> None:
        self.models = parse_manifest(json.loads(manifest_json))
        self.tools = registry()
        self.runtime = BrowserRuntime(bridge)
        self._load_packages_js = load_packages

    async def _load_packages(self, names: tuple[str, ...]) -> None:
        await self._load_packages_js(to_js(list(names)))

    async def warm(self, tool_id: str) -> str:
        """Download, verify and load the model a default run of ``tool_id`` would use.

        Returns the model id, or ``""`` when the tool has no model; failures are left
        for the run to report (and fall back from).
        """
        tool = self.tools[tool_id]
        if not tool.models:
            return ""
        spec = choose_model(tool, "auto", self.runtime, self.models)
        try:
            await self.runtime.load(spec)
        except (ModelError, RuntimeFailure):
            pass
        return spec.id

    def describe(self) -> str:
        """Tools and models as JSON, for the page to build its controls."""
        return json.dumps({
            "tools": [tool.to_dict() for tool in self.tools.values()],
            "models": {spec.id: spec.to_dict() for spec in self.models.values()},
        })

    async def run(self, tool_id: str, data, params_json: str):
        """Run a tool on image bytes (a JS Uint8Array).

        Returns a JS object: ``{png: Uint8Array, provenance: str}`` on success,
        ``{error: str}`` when the input or the tool cannot produce a result.
        """
        watch = Stopwatch()
        try:
            tool = self.tools.get(tool_id)
            if tool is None:
                raise ToolError(f"There is no tool called {tool_id}.")
            with watch.phase("decode"):
                image = imaging.decode(data.to_bytes())
            result = await run_tool(tool, image, json.loads(params_json), runtime=self.runtime,
                                    models=self.models, tier=DEFAULT_TIER, watch=watch,
                                    load_packages=self._load_packages)
            with watch.phase("encode"):
                png = imaging.encode_png(result.pixels)
        except (imaging.ImageError, ToolError) as exc:
            return _js_object({"error": str(exc)})
        result.provenance.timings_ms = watch.finish()
        return _js_object({"png": memoryview(png), "provenance": result.provenance.to_json()})
