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
// returns (if any) once the transaction has committed. Transactions start in the order
// they are asked for (each waits for the one before), so a clear never lands before
// the save the user made just ahead of it.
let lastTransaction = Promise.resolve();
function transact(mode, body) {
  const next = lastTransaction.then(() => run(mode, body));
  lastTransaction = next.catch(() => {});
  return next;
}

async function run(mode, body) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = body(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(request ? request.result : undefined); };
    tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
  });
}

// A reload or a closed tab aborts a transaction that has not committed, so a Clear
// just before it would bring the photo back. The wish is first written where writes
// are synchronous, and honoured on the next load when the clear did not finish.
const CLEAR_PENDING_KEY = "darkroom.clearPending";

function clearPending(pending) {
  try {
    if (pending) localStorage.setItem(CLEAR_PENDING_KEY, "1");
    else localStorage.removeItem(CLEAR_PENDING_KEY);
  } catch {
    // No localStorage (some private modes): the clear is then only as sure as IndexedDB.
  }
}

function isClearPending() {
  try {
    return localStorage.getItem(CLEAR_PENDING_KEY) !== null;
  } catch {
    return false;
  }
}

// A new photo replaces the old one and its result (and a clear still pending).
export const saveInput = (input) => transact("readwrite", (store) => {
  store.clear();
  store.put(input, "input");
}).then(() => clearPending(false));

export const saveResult = (result) => transact("readwrite", (store) => store.put(result, "result"));

// {input: {blob, name} | undefined, result: {blob, provenance, data, tool} | undefined}
export async function loadSaved() {
  if (isClearPending()) {
    await clearSaved();
    return { input: undefined, result: undefined };
  }
  const input = await transact("readonly", (store) => store.get("input"));
  const result = input ? await transact("readonly", (store) => store.get("result")) : undefined;
  return { input, result };
}

export function clearSaved() {
  clearPending(true);
  return transact("readwrite", (store) => store.clear()).then(() => clearPending(false));
}
