// cnnlab explorer: talks to the local API (see cnnlab/app/server.py). No frameworks, no network.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { run: null, image: null, seq: 0, view: "overview", activations: [] };
// views register here: onRun(run) after a run is chosen, onImage() after a new image is analysed,
// onShow() when their tab opens
const views = {};
const FIGURE_TITLES = {
  "learning_curves.png": "Learning curves",
  "confusion_matrix.png": "Confusion matrix (test set)",
  "per_class.png": "Per-class precision, recall, F1",
  "mistakes.png": "Mistakes",
};

// ---- talking to the server -------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = body && body.detail;
    const text = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : response.statusText;
    throw new Error(`${text} (HTTP ${response.status})`);
  }
  return body;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function option(value, text) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = text;
  return el;
}

// ---- runs --------------------------------------------------------------------
async function loadRuns() {
  const data = await api("/api/runs");
  $("limit").textContent = `PNG, JPEG, GIF, BMP or WebP, at most ${(data.max_upload_bytes / 1048576).toFixed(1)} MiB`;
  const select = $("run-select");
  select.replaceChildren();
  if (!data.runs.length) {
    showError(`No trained runs in ${data.source}: train one with \`cnnlab train\`, then reload.`);
    return;
  }
  for (const run of data.runs) select.append(option(run.id, runLabel(run)));
  select.onchange = () => selectRun(select.value);
  await selectRun(data.runs[0].id);
}

function runLabel(run) {
  const mark = { running: " ● running", interrupted: " (interrupted)" }[run.state] || "";
  return `${run.id} — ${run.model} on ${run.dataset}${mark}`;
}

// New runs (and state changes: running -> completed) appear without a reload.
async function refreshRuns() {
  const data = await api("/api/runs");
  const select = $("run-select");
  const chosen = select.value;
  select.replaceChildren(...data.runs.map((run) => option(run.id, runLabel(run))));
  if (data.runs.some((r) => r.id === chosen)) select.value = chosen;
  return data.runs;
}

function callViews(method, ...args) {
  for (const view of Object.values(views)) if (view[method]) view[method](...args);
}

async function selectRun(id) {
  showError("");
  const run = await api(`/api/runs/${encodeURIComponent(id)}`);
  state.run = run;
  const acc = run.test_acc != null ? ` · test accuracy ${(100 * run.test_acc).toFixed(1)}%` : "";
  const unfinished = {
    completed: "",
    running: " · running: training now, the views show its latest snapshot",
  }[run.state] ?? ` · ${run.state}: the run did not finish, this is its last checkpoint (cnnlab train --resume continues it)`;
  $("run-info").textContent =
    `${run.model} · ${run.dataset} · ${run.num_classes} classes · input ${run.in_channels}×${run.input_size.join("×")}${acc}${unfinished}`;
  const layers = $("filter-layer");
  layers.replaceChildren(...run.conv_layers.map((l) =>
    option(l.name, `${l.name} (${l.out_channels}×${l.in_channels}×${l.kernel_size.join("×")})`)));
  layers.onchange = () => loadFilters(layers.value);
  const classes = $("cam-class");
  classes.replaceChildren(option("", "predicted class"), ...run.classes.map((c, i) => option(i, `${i}: ${c}`)));
  classes.onchange = () => refreshCam();
  showFigures(run);
  $("filters").removeAttribute("src");
  $("filters-caption").textContent = run.conv_layers.length ? "" : "No conv layers: for a linear model, `cnnlab viz templates` shows what it learned.";
  if (run.conv_layers.length) await loadFilters(run.conv_layers[0].name);
  callViews("onRun", run);
  if (state.image) await analyze(state.image);
}

async function loadFilters(layer) {
  try {
    const data = await api(`/api/runs/${encodeURIComponent(state.run.id)}/filters?layer=${encodeURIComponent(layer)}`);
    $("filters").src = data.image;
    $("filters-caption").textContent = data.caption;
    showResponses();
  } catch (err) { showError(err.message); }
}

function figure(src, title) {
  const fig = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src;
  img.alt = title;
  const cap = document.createElement("figcaption");
  cap.className = "small";
  cap.textContent = title;
  fig.append(img, cap);
  return fig;
}

function showFigures(run) {
  const box = $("figures");
  box.replaceChildren();
  const base = `/api/runs/${encodeURIComponent(run.id)}`;
  if (!run.figures.includes("learning_curves.png") && run.has_metrics) {
    box.append(figure(`${base}/curves.png`, "Learning curves (from metrics.csv)"));
  }
  const known = Object.keys(FIGURE_TITLES);
  const rank = (name) => (known.includes(name) ? known.indexOf(name) : known.length);
  const names = [...run.figures].sort((a, b) => rank(a) - rank(b));
  for (const name of names) box.append(figure(`${base}/figures/${encodeURIComponent(name)}`, FIGURE_TITLES[name] || name));
  if (!run.figures.includes("confusion_matrix.png")) {
    box.append(note("No confusion matrix yet: run `cnnlab report` on this run to make one."));
  }
}

// ---- analysing an image -----------------------------------------------------
function formWith(image, extra = {}) {
  const form = new FormData();
  form.append("image", image, image.name || "drawing.png");
  // uploads only: drawings are always white ink on black
  if (image instanceof File && $("invert").checked) form.append("invert", "true");
  for (const [k, v] of Object.entries(extra)) form.append(k, v);
  return form;
}

async function analyze(image) {
  if (!state.run) return;
  state.image = image;
  const seq = ++state.seq;  // answers to older requests are dropped
  document.body.classList.add("busy");
  try {
    const data = await api(`/api/runs/${encodeURIComponent(state.run.id)}/analyze`, { method: "POST", body: formWith(image) });
    if (seq !== state.seq) return;
    showError("");
    showPrediction(data);
    showCam(data.cam);
    showActivations(data.activations);
    state.activations = data.activations;
    showResponses();
    $("cam-class").value = "";
    callViews("onImage");
  } catch (err) {
    if (seq === state.seq) showError(err.message);
  } finally {
    if (seq === state.seq) document.body.classList.remove("busy");
  }
}

function showPrediction(data) {
  $("polarity-note").textContent = data.polarity_note
    ? `Note: ${data.polarity_note}. Try “Invert” (upload tab).` : "";
  $("polarity-note").hidden = !data.polarity_note;
  $("seen").src = data.input_image;
  $("seen-caption").textContent = `what the model sees (${state.run.input_size.join("×")})`;
  showTopk($("topk"), data.top);
}

// A list of (class, probability) as name, bar and percentage rows.
function showTopk(list, top) {
  list.replaceChildren(...top.map((t) => {
    const li = document.createElement("li");
    li.innerHTML = '<span class="name"></span><span class="bar"><div></div></span><span class="pct"></span>';
    li.querySelector(".name").textContent = t.class;
    li.querySelector(".bar div").style.width = `${(100 * t.prob).toFixed(1)}%`;
    li.querySelector(".pct").textContent = `${(100 * t.prob).toFixed(1)}%`;
    return li;
  }));
}

function showCam(cam) {
  if (cam.gradcam) $("gradcam").src = cam.gradcam; else $("gradcam").removeAttribute("src");
  $("saliency").src = cam.saliency;
  $("gradcam-caption").textContent = cam.gradcam
    ? `Grad-CAM at ${cam.layer} for “${cam.class}” (${(100 * cam.prob).toFixed(1)}%)`
    : "Grad-CAM needs a conv layer; this model has none";
}

function note(text) {
  const p = document.createElement("p");
  p.className = "muted placeholder";
  p.textContent = text;
  return p;
}

function showActivations(layers) {
  $("activations").replaceChildren(...(layers.length
    ? layers.map((a) => figure(a.image, a.caption))
    : [note("This model has no conv layers, so no activation maps.")]));
}

// Beyond the first layer, each filter is shown by the map it makes from the current image.
function showResponses() {
  const layer = $("filter-layer").value;
  const first = state.run && state.run.conv_layers.length && layer === state.run.conv_layers[0].name;
  const act = state.activations.find((a) => a.layer === layer);
  $("responses").hidden = first || !act || !act.tiles;
  if ($("responses").hidden) return;
  $("response-tiles").replaceChildren(...act.tiles.map((t, k) => {
    const fig = figure(t, `filter ${k}`);
    fig.className = "response";
    return fig;
  }));
}

async function refreshCam() {
  if (!state.image || !state.run) return;
  const target = $("cam-class").value;
  try {
    const cam = await api(`/api/runs/${encodeURIComponent(state.run.id)}/cam`,
      { method: "POST", body: formWith(state.image, target === "" ? {} : { target }) });
    showCam(cam);
  } catch (err) { showError(err.message); }
}

// ---- drawing ------------------------------------------------------------------
function setupCanvas() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false, last = null, timer = null;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; last = point(e); canvas.setPointerCapture(e.pointerId); stroke(e); });
  canvas.addEventListener("pointermove", (e) => { if (drawing) stroke(e); });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    clearTimeout(timer);
    timer = setTimeout(() => exportDrawing(canvas).then(analyze), 150);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  function stroke(e) {
    const p = point(e);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = Number($("brush").value);
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  }
  $("clear").onclick = clear;
}

// The drawing as a PNG; with "Centre", cropped to the ink's bounding box plus a margin.
function exportDrawing(canvas) {
  let source = canvas;
  if ($("center").checked) {
    const { data, width, height } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    }
    if (x1 >= 0) {
      const side = Math.max(x1 - x0, y1 - y0) * 1.4 + 2;  // MNIST-like margin around the digit
      const out = document.createElement("canvas");
      out.width = out.height = 140;
      const octx = out.getContext("2d");
      octx.fillStyle = "#000";
      octx.fillRect(0, 0, 140, 140);
      const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
      octx.drawImage(canvas, cx - side / 2, cy - side / 2, side, side, 0, 0, 140, 140);
      source = out;
    }
  }
  return new Promise((resolve) => source.toBlob((blob) => resolve(new File([blob], "drawing.png", { type: "image/png" })), "image/png"));
}

// ---- upload -------------------------------------------------------------------
function setupUpload() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) analyze(e.target.files[0]); });
  $("invert").addEventListener("change", () => { if (state.image instanceof File) analyze(state.image); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) analyze(e.dataTransfer.files[0]);
  });
}

function showView(name) {
  state.view = name;
  for (const t of document.querySelectorAll(".view-tab")) t.classList.toggle("active", t.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  if (views[name] && views[name].onShow) views[name].onShow();
}

function setupTabs() {
  for (const tab of document.querySelectorAll(".view-tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      for (const name of ["draw", "upload"]) $(`tab-${name}`).hidden = name !== tab.dataset.tab;
    });
  }
}

// the other scripts (network.js, conv.js, ...) register their views first
window.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupCanvas();
  setupUpload();
  loadRuns().catch((err) => showError(`Could not load the runs: ${err.message}`));
});

// ---- shared by the views ---------------------------------------------------------
// A number as a student reads it: 4 significant digits, no trailing zeros.
function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Number.isInteger(v)) return String(v);
  const text = Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toPrecision(4);
  return text.includes("e") ? text : String(parseFloat(text));
}

// A form with the current image plus fields, for the POST endpoints that run the model on it.
function imageForm(extra = {}) {
  return formWith(state.image, Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])));
}

function runPath(suffix) {
  return `/api/runs/${encodeURIComponent(state.run.id)}${suffix}`;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
