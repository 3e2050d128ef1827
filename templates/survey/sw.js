// The service worker of the field pages (scope /lapangan/): it keeps the interview and kiosk
// pages and their static files so that they open without a network. Navigations to a field
// page go to the network first (a fresh page when online) and fall back to the copy kept
// when it was last fetched; no other page, and no POST, is ever kept.
"use strict";

const CACHE = {{ cache_name|tojson }};
const STATIC = {{ static|tojson }};
const FIELD_PAGE = /^\/lapangan\/(wawancara|kios)\/[^/]+\/[^/]+$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(STATIC)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("ikm-lapangan-") && name !== CACHE)
            .map((name) => caches.delete(name))
        )
      )
      .then(() => self.clients.claim())
  );
});

async function networkFirst(request, keep) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (keep && response.ok && !response.redirected) {
      await cache.put(new URL(request.url).pathname, response.clone());
    }
    return response;
  } catch (error) {
    const kept = await cache.match(new URL(request.url).pathname);
    if (kept) {
      return kept;
    }
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return; // answers go straight to the network; the page keeps them while it is down
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate" && FIELD_PAGE.test(url.pathname)) {
    event.respondWith(networkFirst(request, true));
  } else if (STATIC.includes(url.pathname)) {
    event.respondWith(networkFirst(request, false));
  }
});
