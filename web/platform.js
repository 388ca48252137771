// What the browser offers both workers (the Python worker's bridge.js and the model
// worker): WASM threads, WebGPU adapter limits, and its image decoder.

// Threads need cross-origin isolation (SharedArrayBuffer).
export const WASM_THREADS = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;

// Limits worth raising from the WebGPU defaults for big convolutions.
const GPU_LIMITS = ["maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ", "maxStorageBuffersPerShaderStage"];

export function adapterLimits(adapter) {
  return Object.fromEntries(GPU_LIMITS.map((key) => [key, adapter.limits[key]]));
}

// The browser's decode of an image file, EXIF orientation applied, alpha not
// premultiplied: {bitmap} or {error}.
export async function decodeImage(blob) {
  try {
    return { bitmap: await createImageBitmap(blob, { imageOrientation: "from-image", premultiplyAlpha: "none" }) };
  } catch (err) {
    return { error: err.message || String(err) };
  }
}

// A decoded bitmap's straight-alpha sRGB RGBA bytes; the bitmap is closed.
export function rgbaOf(bitmap) {
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext("2d", { colorSpace: "srgb" });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return new Uint8Array(context.getImageData(0, 0, width, height).data.buffer);
}

// A decoded bitmap's sRGB RGB bytes, alpha dropped (a model's or Python's photo input);
// the bitmap is closed.
export function rgbOf(bitmap) {
  const rgba = rgbaOf(bitmap);
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}
