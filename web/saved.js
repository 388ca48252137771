// The user's current photo and latest result, kept in IndexedDB (Blobs and all) so a
// reload, a crash or a closed tab loses nothing; they go only when the user clears them.
// Everything stays on this device, like the rest of the app.
const DB_NAME = "darkroom";
const STORE = "work";

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Runs `body(store)` in one transaction; resolves with the value of the request it
// returns (if any) once the transaction has committed.
async function transact(mode, body) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = body(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(request ? request.result : undefined); };
    tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
  });
}

// A new photo replaces the old one and its result.
export const saveInput = (input) => transact("readwrite", (store) => { store.put(input, "input"); store.delete("result"); });

export const saveResult = (result) => transact("readwrite", (store) => store.put(result, "result"));

// {input: {blob, name} | undefined, result: {blob, provenance, data, tool} | undefined}
export async function loadSaved() {
  const input = await transact("readonly", (store) => store.get("input"));
  const result = input ? await transact("readonly", (store) => store.get("result")) : undefined;
  return { input, result };
}

export const clearSaved = () => transact("readwrite", (store) => store.clear());
