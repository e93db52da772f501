// drillmgr's service worker: keeps the drill-day shell and static files for offline use. It keeps no page
// or data of a user: the shell is the same for everyone, and everything else goes to the network.
const SHELL_CACHE = "drillmgr-shell-v1";
const SHELL = [
  "/day",
  "/manifest.webmanifest",
  "/static/vendor/bootstrap/bootstrap.min.css",
  "/static/drillday/drillday.css",
  "/static/drillday/js/app.js",
  "/static/drillday/js/store.js",
  "/static/drillday/js/clock.js",
  "/static/drillday/icon-192.png",
  "/static/drillday/icon-512.png",
];
const DRILL_DAY = /^\/(day|drills\/\d+\/day)$/;

async function precache() {
  const cache = await caches.open(SHELL_CACHE);
  await cache.addAll(SHELL.map((url) => new Request(url, { credentials: "omit", cache: "reload" })));
}

self.addEventListener("install", (event) => event.waitUntil(precache().then(() => self.skipWaiting())));

self.addEventListener("activate", (event) => event.waitUntil((async () => {
  for (const name of await caches.keys()) if (name !== SHELL_CACHE) await caches.delete(name);
  await self.clients.claim();
})()));

self.addEventListener("message", (event) => {
  if (event.data === "precache") event.waitUntil(precache().finally(() => event.ports[0]?.postMessage("done")));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && DRILL_DAY.test(url.pathname)) {
    // The network first (the server checks the session); offline, the shell from the cache.
    event.respondWith(fetch(event.request).catch(async () => (await caches.match("/day", { cacheName: SHELL_CACHE }))
      || Response.error()));
  } else if (SHELL.includes(url.pathname) && url.pathname !== "/day") {
    event.respondWith((async () => (await caches.match(url.pathname, { cacheName: SHELL_CACHE }))
      || fetch(event.request))());
  }
});
