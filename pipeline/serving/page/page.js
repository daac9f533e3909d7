// The draw-and-predict page of `trainlab serve`: plain JS, no build step, no external URLs.
// Everything it knows about the model (input shape, class names) comes from the export's metadata,
// and every prediction goes through the server's own REST API (:predict, signature serving_explain where
// the model has it: the probabilities and a Grad-CAM overlay; else serving_b64).
"use strict";

const MODEL = document.querySelector('meta[name="trainlab-model"]').content;
const API = `/v1/models/${encodeURIComponent(MODEL)}`;
const $ = (id) => document.getElementById(id);
let shape = [28, 28, 1];   // [height, width, channels], replaced by the metadata's image_shape
let classNames = [];
let signature = "serving_b64";   // serving_explain when the export has it (a convolutional model)
const SHOWN = 5;                 // the classes listed, most probable first

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadMetadata() {
  const response = await fetch(`${API}/metadata`);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  const meta = body.trainlab || {};
  shape = meta.image_shape || shape;
  classNames = meta.class_names || [];
  const signatures = ((body.metadata || {}).signature_def || {}).signature_def || {};
  signature = "serving_explain" in signatures ? "serving_explain" : "serving_b64";
  const version = body.model_spec.version;
  $("model-facts").textContent = `version ${version}: ${shape[0]}x${shape[1]} ` +
    `${shape[2] === 1 ? "gray" : "color"} images, ${classNames.length} classes` +
    (meta.dataset ? `, trained on ${meta.dataset}` : "");
  $("draw-panel").hidden = shape[2] !== 1;   // drawing makes sense for one-channel (digit-like) models
}

// --- drawing --------------------------------------------------------------------------------------

const canvas = $("canvas");
const pen = canvas.getContext("2d");
let drawing = false;

function clearCanvas() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, canvas.width, canvas.height);
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  pen.beginPath();
  pen.moveTo(x, y);
  pen.lineTo(x + 0.01, y);
  pen.stroke();
});
canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  pen.lineTo(x, y);
  pen.stroke();
});
for (const name of ["pointerup", "pointercancel"]) canvas.addEventListener(name, () => { drawing = false; });

// The drawing as the training data looks (MNIST-style): the strokes' bounding box scaled to fit 20/28
// of the model's size, centered on a black image of exactly the model's height and width.
function drawingAsImage() {
  const { data } = pen.getImageData(0, 0, canvas.width, canvas.height);
  let top = canvas.height, left = canvas.width, bottom = -1, right = -1;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      if (data[(y * canvas.width + x) * 4] > 0) {
        top = Math.min(top, y); bottom = Math.max(bottom, y);
        left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return null;
  const [height, width] = shape;
  const out = document.createElement("canvas");
  out.width = width;
  out.height = height;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  const boxW = right - left + 1, boxH = bottom - top + 1;
  const scale = Math.min(width * 20 / 28 / boxW, height * 20 / 28 / boxH);
  const w = boxW * scale, h = boxH * scale;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(canvas, left, top, boxW, boxH, (width - w) / 2, (height - h) / 2, w, h);
  return out;
}

// --- prediction through the REST API ------------------------------------------------------------

function b64OfCanvas(c) {
  return c.toDataURL("image/png").split(",", 2)[1];
}

async function predict(b64, note = "") {
  status("predicting\u2026");
  const response = await fetch(`${API}:predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ signature_name: signature, instances: [{ b64 }] }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  const answer = body.predictions[0];
  showBars(answer.probabilities);
  showHeatmap(answer.overlay_bytes, answer.probabilities);
  status(note);
}

// Grad-CAM: the image as the model saw it, red where the network found the evidence for its class.
function showHeatmap(overlay, probabilities) {
  const figure = $("explanation");
  figure.hidden = !overlay;
  if (!overlay) return;
  const top = probabilities.indexOf(Math.max(...probabilities));
  $("heatmap").src = `data:image/png;base64,${overlay.b64}`;
  $("heatmap-class").textContent = classNames[top] ?? String(top);
}

function showBars(probabilities) {
  const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]);
  const top = order[0][1];
  $("top-class").textContent = classNames[top] ?? String(top);
  $("top-probability").textContent = `(${(100 * order[0][0]).toFixed(1)}%)`;
  $("shown").textContent = probabilities.length > SHOWN ? `the ${SHOWN} most probable of ${probabilities.length}` : "";
  const bars = $("bars");
  bars.replaceChildren();
  order.slice(0, SHOWN).forEach(([p, i]) => {
    const item = document.createElement("li");
    item.dataset.class = classNames[i] ?? String(i);
    if (i === top) item.className = "top";
    const name = document.createElement("span");
    name.textContent = item.dataset.class;
    const track = document.createElement("span");
    track.className = "track";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.display = "block";
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(bar);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(100 * p).toFixed(1)}%`;
    item.append(name, track, value);
    bars.append(item);
  });
}

// --- upload ---------------------------------------------------------------------------------------

function readAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("cannot read the file"));
    reader.readAsDataURL(file);
  });
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("not a readable PNG, JPEG, GIF, BMP or WebP image"));
    image.src = url;
  });
}

// Like `trainlab predict`: a gray model gets dark-on-white drawings inverted (its border averages
// above mid-grey); anything else is sent as the file's own bytes, decoded and resized by the model.
// A photo over the server's per-image limits (1 MiB, 16.7 million pixels: most phone JPEGs) is first
// drawn smaller on a canvas (the browser applies its EXIF orientation) and sent as a JPEG.
const MAX_SEND_BYTES = 1024 * 1024;
const MAX_SEND_PIXELS = 16777216;
const SEND_SIDE = 1024;   // the shorter side of a downscaled photo: several times any model's input

async function uploadBytes(file) {
  const url = await readAsDataURL(file);
  const image = await loadImage(url);
  $("preview").src = url;
  $("preview").hidden = false;
  const [width, height] = [image.naturalWidth, image.naturalHeight];
  const big = file.size > MAX_SEND_BYTES || width * height > MAX_SEND_PIXELS;
  if (shape[2] !== 1 && !big) return { b64: url.split(",", 2)[1], note: "" };
  const scale = big ? Math.min(1, SEND_SIDE / Math.min(width, height)) : 1;
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(width * scale));
  c.height = Math.max(1, Math.round(height * scale));
  const ctx = c.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(image, 0, 0, c.width, c.height);
  const note = big ? `downscaled ${width}x${height} to ${c.width}x${c.height} before sending` : "";
  if (shape[2] === 1 && borderIsLight(ctx, c)) {
    ctx.globalCompositeOperation = "difference";
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    const inverted = `inverted: the model was trained on light strokes on dark${note ? `; ${note}` : ""}`;
    return { b64: big ? c.toDataURL("image/jpeg", 0.92).split(",", 2)[1] : b64OfCanvas(c), note: inverted };
  }
  if (!big) return { b64: url.split(",", 2)[1], note: "" };
  return { b64: c.toDataURL("image/jpeg", 0.92).split(",", 2)[1], note };
}

function borderIsLight(ctx, c) {
  const { data } = ctx.getImageData(0, 0, c.width, c.height);
  let sum = 0, count = 0;
  const gray = (x, y) => { const k = (y * c.width + x) * 4; return 0.299 * data[k] + 0.587 * data[k + 1] + 0.114 * data[k + 2]; };
  for (let x = 0; x < c.width; x++) { sum += gray(x, 0) + gray(x, c.height - 1); count += 2; }
  for (let y = 0; y < c.height; y++) { sum += gray(0, y) + gray(c.width - 1, y); count += 2; }
  return sum / count > 127;
}

// --- wiring ---------------------------------------------------------------------------------------

function guarded(action) {
  return async (...args) => {
    try { await action(...args); } catch (error) { status(`Error: ${error.message}`, true); }
  };
}

pen.strokeStyle = "#fff";
pen.lineWidth = 20;
pen.lineCap = "round";
pen.lineJoin = "round";
clearCanvas();
$("clear").addEventListener("click", () => { clearCanvas(); status(""); });
$("predict").addEventListener("click", guarded(async () => {
  const image = drawingAsImage();
  if (image === null) { status("draw something first", true); return; }
  await predict(b64OfCanvas(image));
}));
$("upload").addEventListener("change", guarded(async (event) => {
  const file = event.target.files[0];
  if (file) {
    const { b64, note } = await uploadBytes(file);
    await predict(b64, note);
  }
}));
loadMetadata().then(() => status("ready"), (error) => status(`Error: ${error.message}`, true));
