// A mask painted over the photo (a "mask" parameter, e.g. remove-object's): strokes on a
// canvas laid over the original, at the photo's own resolution, sent to the tool as a
// PNG whose opaque pixels are the painted ones.

const BRUSH_DEFAULT = 4; // % of the photo's longer side

export function maskPainter(frame, photo, { onChange = () => {} } = {}) {
  const canvas = Object.assign(document.createElement("canvas"), { className: "mask-canvas" });
  canvas.dataset.testid = "mask-canvas";
  canvas.setAttribute("aria-label", "Paint over the photo to mark what to change");
  frame.append(canvas);
  const pen = canvas.getContext("2d");
  let painted = false;
  let last = null;

  const controls = Object.assign(document.createElement("div"), { className: "mask-controls" });
  const brush = Object.assign(document.createElement("input"), { type: "range", min: 1, max: 15, step: 1, value: BRUSH_DEFAULT });
  brush.dataset.testid = "mask-brush";
  brush.title = "Brush size, as a share of the photo's longer side";
  const brushLabel = Object.assign(document.createElement("label"), { textContent: "Brush" });
  brushLabel.append(brush);
  const status = Object.assign(document.createElement("p"), { className: "mask-status" });
  status.dataset.testid = "mask-status";
  const clear = Object.assign(document.createElement("button"), { type: "button", textContent: "Clear mask" });
  clear.dataset.testid = "mask-clear";
  const edit = Object.assign(document.createElement("button"), { type: "button", textContent: "Edit mask", hidden: true });
  edit.dataset.testid = "mask-edit";
  const buttons = Object.assign(document.createElement("div"), { className: "mask-buttons" });
  buttons.append(clear, edit);
  controls.append(brushLabel, buttons, status);

  function say() {
    status.textContent = painted ? "Painted. Run to fill it in; paint more or clear to change it." : "Paint over what to remove on the photo.";
    onChange();
  }

  function reset() {
    canvas.width = photo.naturalWidth || 1;
    canvas.height = photo.naturalHeight || 1;
    painted = false;
    say();
  }

  function at(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * canvas.width, ((event.clientY - box.top) / box.height) * canvas.height];
  }

  function stroke(from, to) {
    pen.strokeStyle = pen.fillStyle = "#ff4040";
    pen.lineWidth = (Number(brush.value) / 100) * Math.max(canvas.width, canvas.height);
    pen.lineCap = pen.lineJoin = "round";
    pen.beginPath();
    pen.moveTo(...from);
    pen.lineTo(...to);
    pen.stroke();
    if (!painted) { painted = true; say(); }
  }

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = at(event);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = at(event);
    stroke(last, next);
    last = next;
  });
  for (const type of ["pointerup", "pointercancel"]) canvas.addEventListener(type, () => { last = null; });
  clear.addEventListener("click", () => { pen.clearRect(0, 0, canvas.width, canvas.height); painted = false; say(); });
  edit.addEventListener("click", () => show(true));
  photo.addEventListener("load", reset);

  // While a result is shown the strokes would hide it: they step aside until asked for.
  function show(visible) {
    canvas.hidden = !visible;
    edit.hidden = visible;
    if (visible) frame.querySelector(".after").hidden = true;
  }

  reset();
  return {
    controls,
    show,
    // The mask as a PNG Blob, or null when nothing is painted.
    blob: () => (painted ? new Promise((resolve) => canvas.toBlob(resolve, "image/png")) : Promise.resolve(null)),
    remove() {
      photo.removeEventListener("load", reset);
      canvas.remove();
    },
  };
}
