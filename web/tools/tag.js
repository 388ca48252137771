// tag's findings in words: its tags, each with its probability when a model chose it
// (plain measurements have none).
export function describeFindings({ tags, scores }) {
  const tag = (name) => (scores && name in scores ? `${name} (${Math.round(scores[name] * 100)} %)` : name);
  return `Tags: ${tags.map(tag).join(", ") || "none above the threshold"}`;
}
