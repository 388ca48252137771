// build.json (written by build.py): the tools, shipped models, formats and tiers,
// fetched at once so the picker and controls appear before Python is ready.
export const built = fetch("./build.json").then((response) => {
  if (!response.ok) throw new Error(`build.json: HTTP ${response.status}`);
  return response.json();
});
