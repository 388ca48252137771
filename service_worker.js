// Offline support for the app shell, and the headers the app needs on any static host.
// Pyodide, onnxruntime-web and the hashed Python archive never change under the same
// URL, so they are served cache-first; the page and its scripts are network-first so a
// new release shows up at once. Model files are not handled here: bridge.js verifies
// them and keeps them in its own cache (and fetched data needs none of these headers).
const SHELL_CACHE = "darkroom-shell-__BUILD_ID__";
// The page itself is fetched before this worker exists, so it is cached at install;
// everything else is cached as the page's Python worker fetches it (build.py fills this in).
const PRECACHE = __PRECACHE__;
const IMMUTABLE = /\/(pyodide|ort|py)\//;
// Cross-origin isolation (WASM threads) and the Content-Security-Policy, as the dev server
// sends them (site_build/headers.py; build.py fills this in). A host that sends none still
// gets them on every response served here, cached ones included; workers take their
// policy from their own script's response, which a <meta> policy cannot reach.
const HEADERS = __HEADERS__;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    await (await caches.open(SHELL_CACHE)).addAll(PRECACHE);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("darkroom-shell-") && key !== SHELL_CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

async function cacheFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (offline) {
    const hit = await cache.match(request, { ignoreSearch: true });
    if (hit) return hit;
    throw offline;
  }
}

// The same body stream under the added headers: nothing is read, copied or made up.
// An opaque redirect (status 0) cannot be rebuilt; the browser follows it itself.
function withHeaders(response) {
  if (response.status === 0) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.endsWith(".onnx")) return;
  const served = IMMUTABLE.test(url.pathname) ? cacheFirst(event.request) : networkFirst(event.request);
  event.respondWith(served.then(withHeaders));
});
