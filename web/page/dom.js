// Small helpers for drawing: finding elements, definition lists, sizes in bytes.
export const $ = (selector) => document.querySelector(selector);

export const MB = 1024 * 1024;
export const GB = 1024 * MB;

// Replaces a <dl>'s content with [term, description] rows.
export function fillDefinitions(dl, rows) {
  dl.replaceChildren();
  for (const [key, value] of rows) {
    dl.append(Object.assign(document.createElement("dt"), { textContent: key }));
    dl.append(Object.assign(document.createElement("dd"), { textContent: value }));
  }
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < MB) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / MB).toFixed(1)} MB`;
}
