// The page's one state object: what the modules share, in one place so that who changes
// what stays visible.
export const state = {
  build: null, // build.json (written by build.py), once fetched: the tools, models and formats
  booting: true, // until Python is ready, or failed to start (downloads may still report after that)
  bootActivity: {}, // per worker lane, what it is fetching or preparing while booting
  tool: null, // the chosen tool's spec from the catalog
  input: null, // the photo: {blob, name, url}
  resultUrl: null, // the shown result's object URL
  running: false,
  rerunWanted: false, // a change made while a run is working is run once that run ends
  painter: null, // the mask painter of a tool with a "mask" parameter
  tierInUse: null, // known once Python has started
  persistence: "not requested", // what the browser granted for the storage of models
};
