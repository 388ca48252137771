// restore-faces finds the faces it restores the way find-faces does, and says so alike.
export { describeFindings } from "./find-faces.js";
