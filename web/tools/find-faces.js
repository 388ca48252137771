// find-faces' findings in words: each face's box and, from a model, its score.
export function describeFindings({ faces }) {
  if (!faces.length) return "No faces found.";
  const boxes = faces.map((face) => {
    const [x0, y0, x1, y1] = face.box.map(Math.round);
    return `(${x0}, ${y0})–(${x1}, ${y1})${face.score === null ? "" : ` ${Math.round(face.score * 100)}%`}`;
  });
  return `Found ${faces.length} face${faces.length > 1 ? "s" : ""}: ${boxes.join("; ")}`;
}
