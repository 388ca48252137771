// What the page keeps in localStorage: the last tool, the chosen tier, whether the tier
// was introduced, and the user's own models.
const TOOL_KEY = "darkroom.tool";
const TIER_KEY = "darkroom.tier";
const INTRO_KEY = "darkroom.tierIntroSeen";
// The models a user added ({tool, slot, id, name, files: [{name, sha256, size, found}]};
// slot: the parameter that picks it, "model" or a companion's); their files live in the
// model cache, verified by sha256 before every session. Entries from before models in
// parts held one file's fields themselves, from before companions no slot.
const USER_MODELS_KEY = "darkroom.userModels";

export const lastTool = () => localStorage.getItem(TOOL_KEY);
export const rememberTool = (id) => localStorage.setItem(TOOL_KEY, id);

// The stored tier name, or null for "auto"; it may name no tier (another version, a hand edit).
export const storedTier = () => localStorage.getItem(TIER_KEY);

export function storeTier(name) {
  if (name === "auto") localStorage.removeItem(TIER_KEY);
  else localStorage.setItem(TIER_KEY, name);
}

export const introSeen = () => Boolean(localStorage.getItem(INTRO_KEY));
export const markIntroSeen = () => localStorage.setItem(INTRO_KEY, "1");

// A damaged entry (not JSON, not a list, not models) is ignored rather than breaking the controls.
export function savedUserModels() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(USER_MODELS_KEY) || "[]");
  } catch {
    return [];
  }
  return (Array.isArray(saved) ? saved : [])
    .filter((model) => model && typeof model === "object" && typeof model.id === "string" && typeof model.tool === "string")
    .map(({ sha256, size, found, ...model }) => (model.files ? model : { ...model, files: [{ name: model.name, sha256, size, found }] }))
    .map((model) => ({ slot: "model", ...model }));
}

// Adds `model`, or replaces the one of the same id.
export function saveUserModel(model) {
  localStorage.setItem(USER_MODELS_KEY, JSON.stringify([...savedUserModels().filter((m) => m.id !== model.id), model]));
}
