// Calls into a worker that answers {id, ok, value|error} and meanwhile sends
// {type: "progress", ...} events: the page's into the Python worker, bridge.js's into
// the model worker.
export class WorkerCalls {
  #pending = new Map();
  #nextId = 1;
  #worker = null;
  #onProgress;

  constructor(onProgress) {
    this.#onProgress = onProgress;
  }

  // From now on calls go to `worker` (a fresh one, after the last one died).
  connect(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      if (data.type === "progress") return this.#onProgress(data);
      const waiter = this.#pending.get(data.id);
      this.#pending.delete(data.id);
      if (data.ok) waiter.resolve(data.value);
      else waiter.reject(new Error(data.error));
    };
  }

  call(op, args = {}, transfer = []) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  // The worker died: every call it still owed fails with `error`.
  failAll(error) {
    for (const waiter of this.#pending.values()) waiter.reject(error);
    this.#pending.clear();
  }
}
