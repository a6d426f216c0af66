// Phoenix dashboard service worker: it caches the app shell only (the
// page, its hashed scripts and styles, the manifest and icons) so the UI
// opens offline or on a bad network. It never caches API responses: every
// /api/ request (and every non-GET) goes to the network untouched.
const CACHE = "phoenix-shell-v1";
const SHELL = ["/", "/manifest.webmanifest", "/icon.svg", "/icon-192.png", "/icon-512.png"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// isShell says whether a request is part of the shell this worker may cache.
function isShell(url, req) {
  if (req.method !== "GET" || url.origin !== self.location.origin) return false;
  const p = url.pathname;
  if (p.startsWith("/api/") || p === "/healthz" || p === "/readyz" || p === "/metrics") return false;
  return req.mode === "navigate" || p.startsWith("/assets/") || SHELL.includes(p);
}

self.addEventListener("fetch", (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (!isShell(url, req)) return; // the browser's own fetch, never cached here
  if (req.mode === "navigate") {
    // Network first, so a new build is picked up at once; the cached page
    // (every client route is the same index.html) when offline.
    e.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put("/", copy));
          }
          return res;
        })
        .catch(() => caches.match("/").then((r) => r || Response.error())),
    );
    return;
  }
  // Hashed assets never change: cache first, filled on first use.
  e.respondWith(
    caches.match(req).then(
      (hit) =>
        hit ||
        fetch(req).then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(req, copy));
          }
          return res;
        }),
    ),
  );
});
