// The phone's own store (IndexedDB): the context prepared online, and drill-day records until they are sent.
const NAME = "drillmgr-drillday";
export const SHELL_CACHE = "drillmgr-shell-v1";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore("context");
      request.result.createObjectStore("records", { keyPath: "key" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(storeName, mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      const request = action(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const getContext = () => run("context", "readonly", (s) => s.get("current"));
export const putContext = (context) => run("context", "readwrite", (s) => s.put(context, "current"));
export const allRecords = () => run("records", "readonly", (s) => s.getAll());
export const putRecord = (record) => run("records", "readwrite", (s) => s.put(record));
export const deleteRecord = (key) => run("records", "readwrite", (s) => s.delete(key));

// Logging out leaves nothing of the user on the phone: neither this store nor any cache.
export async function forgetEverything() {
  await run("context", "readwrite", (s) => s.clear());
  await run("records", "readwrite", (s) => s.clear());
  for (const name of await caches.keys()) await caches.delete(name);
}

export async function prepare(contextUrl) {
  const answer = await fetch(contextUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!answer.ok || !(answer.headers.get("Content-Type") || "").includes("json")) return null;
  const context = await answer.json();
  delete context.csrf_token;
  await putContext({ ...context, saved_at: Date.now() });
  return context;
}
