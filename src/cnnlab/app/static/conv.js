// The convolution view: a kernel of the user's model slides over its input, position by position, with the
// numbers of each step; then the norm / activation / pooling after it, and the softmax of the logits.
"use strict";

views.conv = (() => {
  const view = { data: null, stage: 0, pos: 0, timer: null, stale: true, layer: null, channel: 0, seq: 0 };
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const MAP_PX = 200;       // canvas width of a map
  const MAX_LISTED = 16;    // window values written out for a pooling step

  function color(t) {
    const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
    const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // A 2-D array as coloured cells; `done(i, j)` false draws the cell grey (not computed yet).
  function mapCanvas(values, marks = [], done = null) {
    const h = values.length, w = values[0].length;
    const cell = Math.max(2, Math.floor(MAP_PX / Math.max(h, w)));
    const canvas = el("canvas", "map");
    canvas.width = w * cell;
    canvas.height = h * cell;
    const ctx = canvas.getContext("2d");
    const flat = values.flat();
    const lo = Math.min(...flat), span = Math.max(...flat) - lo || 1;
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      ctx.fillStyle = done && !done(i, j) ? "#e5e7eb" : color((values[i][j] - lo) / span);
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }
    ctx.lineWidth = Math.max(1, cell / 6);
    for (const [i, j, style] of marks) {
      ctx.strokeStyle = style || "#ef4444";
      ctx.strokeRect(j * cell + 0.5, i * cell + 0.5, cell - 1, cell - 1);
    }
    return canvas;
  }

  function figureOf(canvas, caption) {
    const fig = el("figure", "map-fig");
    fig.append(canvas, el("figcaption", "small", caption));
    return fig;
  }

  function numberGrid(values, cls = "") {
    const table = el("table", `numbers ${cls}`);
    for (const row of values) {
      const tr = el("tr");
      for (const v of row) tr.append(el("td", v < 0 ? "neg" : "", fmtNum(v)));
      table.append(tr);
    }
    return table;
  }

  function stages() {
    const d = view.data;
    return [{ kind: "conv", label: `conv ${d.layer}` }, ...d.next.map((s) => ({ kind: s.kind, label: s.label, step: s })),
      { kind: "softmax", label: "softmax" }];
  }

  function size() {
    const s = stages()[view.stage];
    if (s.kind === "conv") return [view.data.output.length, view.data.output[0].length];
    if (s.kind === "softmax") return [view.data.softmax.logits.length, 1];
    return [s.step.output.length, s.step.output[0].length];
  }

  async function load(layer, channel) {
    if (!state.run || !state.image || !layer) return;
    stop();
    view.stale = false;
    const seq = ++view.seq;  // a newer choice of layer or channel wins over a slower older answer
    try {
      const data = await api(runPath("/conv"), { method: "POST", body: imageForm({ layer, channel }) });
      if (seq !== view.seq) return;
      view.data = data;
      view.layer = layer;
      view.channel = channel;
      view.stage = 0;
      view.pos = 0;
      drawStages();
      render();
    } catch (err) { showError(err.message); }
  }

  function drawStages() {
    $("conv-stages").replaceChildren(...stages().map((s, k) => {
      const b = el("button", `stage ${k === view.stage ? "active" : ""}`, s.label);
      b.dataset.stage = k;
      b.onclick = () => { stop(); view.stage = k; view.pos = 0; drawStages(); render(); };
      return b;
    }));
  }

  function render() {
    const d = view.data;
    if (!d) return;
    const [h, w] = size();
    const i = Math.floor(view.pos / w), j = view.pos % w;
    const s = stages()[view.stage];
    $("conv-position").textContent = s.kind === "softmax" ? `class ${i + 1} of ${h}` : `position (${i}, ${j}) of ${h}×${w}`;
    const body = { conv: convStage, softmax: softmaxStage, pool: poolStage }[s.kind] || elementStage;
    $("conv-stage").replaceChildren(...body(i, j, s.step));
  }

  function convStage(i, j) {
    const d = view.data;
    const [kh, kw] = [d.weights[0].length, d.weights[0][0].length];
    const top = i * d.stride[0], left = j * d.stride[1];
    const taps = [];
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) taps.push([top + a * d.dilation[0], left + b * d.dilation[1]]);
    const inputs = el("div", d.padded_input.length <= 2 ? "maps few" : "maps");
    d.padded_input.forEach((m, c) => inputs.append(figureOf(mapCanvas(m, taps), `input ${d.input_channels[c]}`)));
    const arithmetic = el("div", "arithmetic");
    const sums = d.channel_sums[i][j];
    d.padded_input.forEach((m, c) => {
      const patch = Array.from({ length: kh }, (_, a) => Array.from({ length: kw }, (_, b) => m[taps[a * kw + b][0]][taps[a * kw + b][1]]));
      const row = el("div", "channel-sum");
      row.append(el("span", "muted small", `ch ${d.input_channels[c]}`), numberGrid(patch), el("span", "op", "⊙"),
        numberGrid(d.weights[c], "weights"), el("span", "op", "→ Σ ="), el("span", "sum", fmtNum(sums[c])));
      arithmetic.append(row);
    });
    const rest = d.input_channels.length - d.shown_inputs;
    const total = d.output[i][j], model = d.model_output[i][j];
    const terms = sums.map(fmtNum);
    if (rest > 0) terms.push(`${fmtNum(d.rest_sums[i][j])} (the other ${rest} input channels)`);
    const line = el("p", "total");
    line.append(`${terms.join(" + ")} + bias ${fmtNum(d.bias)} = `, el("strong", "", ""));
    line.querySelector("strong").id = "conv-total";
    line.querySelector("strong").textContent = fmtNum(total);
    const check = el("p", "small");
    check.append("the model's activation here (forward hook): ", el("span", "", fmtNum(model)));
    check.lastChild.id = "conv-model";
    check.append(Math.abs(total - model) <= 1e-4 * Math.max(1, Math.abs(model)) ? " ✓ the same" : " ✗ differs");
    arithmetic.append(line, check);
    const w = d.output[0].length;
    const out = figureOf(mapCanvas(d.model_output, [[i, j, "#ef4444"]], (a, b) => a * w + b <= view.pos),
      `output channel ${d.channel} (${d.output.length}×${w})`);
    const note = el("p", "muted small", `stride ${d.stride.join("×")}, padding ${d.padding.join("×")}, dilation ${d.dilation.join("×")}; red: the kernel's taps and the output they make`);
    return [row3(inputs, arithmetic, out), note];
  }

  function row3(a, b, c) {
    const row = el("div", "stage-row");
    row.append(a, b, c);
    return row;
  }

  function formula(step, v, out) {
    if (step.kind === "norm" && step.affine) return `${fmtNum(step.affine.scale)} × ${fmtNum(v)} + ${fmtNum(step.affine.shift)} = ${fmtNum(out)}   (batch norm with its running mean/variance: scale·x + shift)`;
    if (step.op === "ReLU" || step.op === "relu") return `max(0, ${fmtNum(v)}) = ${fmtNum(out)}`;
    return `${step.op}(${fmtNum(v)}) = ${fmtNum(out)}`;
  }

  function elementStage(i, j, step) {
    const v = step.input[i][j], out = step.output[i][j];
    const w = step.output[0].length;
    const arithmetic = el("div", "arithmetic");
    const p = el("p", "total", formula(step, v, out));
    p.id = "conv-total";
    arithmetic.append(el("p", "small muted", `${step.label}: applied to each value on its own`), p);
    return [row3(figureOf(mapCanvas(step.input, [[i, j]]), "its input"), arithmetic,
      figureOf(mapCanvas(step.output, [[i, j]], (a, b) => a * w + b <= view.pos), "its output"))];
  }

  function poolWindow(step, i, j) {
    const inH = step.input.length, inW = step.input[0].length;
    const p = step.params;
    const pair = (x, dflt) => (Array.isArray(x) ? x : [x ?? dflt, x ?? dflt]);
    let rows, cols;
    if (p.kernel_size !== undefined) {
      const [kh, kw] = pair(p.kernel_size), [sh, sw] = pair(p.stride, kh), [ph, pw] = pair(p.padding, 0);
      rows = [...Array(kh).keys()].map((a) => i * sh - ph + a);
      cols = [...Array(kw).keys()].map((b) => j * sw - pw + b);
    } else {  // adaptive pooling: torch's start/end formula
      const [oh, ow] = [step.output.length, step.output[0].length];
      const span = (k, n, o) => [...Array(Math.ceil(((k + 1) * n) / o) - Math.floor((k * n) / o)).keys()].map((a) => Math.floor((k * n) / o) + a);
      rows = span(i, inH, oh);
      cols = span(j, inW, ow);
    }
    const cells = [];
    for (const a of rows) for (const b of cols) if (a >= 0 && b >= 0 && a < inH && b < inW) cells.push([a, b]);
    return cells;
  }

  function poolStage(i, j, step) {
    const cells = poolWindow(step, i, j);
    const vals = cells.map(([a, b]) => step.input[a][b]);
    const out = step.output[i][j];
    const name = /max/i.test(step.op) ? "max" : "mean";
    const listed = vals.slice(0, MAX_LISTED).map(fmtNum).join(", ") + (vals.length > MAX_LISTED ? `, … (${vals.length} values)` : "");
    const arithmetic = el("div", "arithmetic");
    const p = el("p", "total", `${name}(${listed}) = ${fmtNum(out)}`);
    p.id = "conv-total";
    arithmetic.append(el("p", "small muted", `${step.label}: one value per window`), p);
    const w = step.output[0].length;
    return [row3(figureOf(mapCanvas(step.input, cells), "its input"), arithmetic,
      figureOf(mapCanvas(step.output, [[i, j]], (a, b) => a * w + b <= view.pos), "its output"))];
  }

  function softmaxStage(k) {
    const s = view.data.softmax;
    const table = el("table", "softmax");
    table.append(el("tr"));
    table.firstChild.append(...["class", "logit z", "z − max z", "exp(z − max z)", "÷ sum = probability"].map((t) => el("th", "", t)));
    s.classes.forEach((c, r) => {
      const tr = el("tr", r === k ? "current" : r < k ? "done" : "");
      tr.append(el("td", "cls", c), el("td", "", fmtNum(s.logits[r])), el("td", "", fmtNum(s.logits[r] - s.max)),
        el("td", "", r <= k ? fmtNum(s.exps[r]) : ""), el("td", "", r <= k ? `${fmtNum(s.exps[r])} ÷ ${fmtNum(s.sum)} = ${(100 * s.probs[r]).toFixed(2)}%` : ""));
      table.append(tr);
    });
    const p = el("p", "small", `sum of exp = ${fmtNum(s.sum)}; subtracting the largest logit (${fmtNum(s.max)}) first changes nothing but keeps exp from overflowing.`);
    const total = el("p", "total", `${s.classes[k]}: ${(100 * s.probs[k]).toFixed(2)}%`);
    total.id = "conv-total";
    return [table, p, total];
  }

  function advance(delta) {
    if (!view.data) return;
    const [h, w] = size();
    view.pos = (view.pos + delta + h * w) % (h * w);
    render();
  }

  function play() {
    if (view.timer) { stop(); return; }
    $("conv-play").textContent = "❚❚ Pause";
    const tick = () => { advance(1); view.timer = setTimeout(tick, 1000 / Number($("conv-speed").value)); };
    view.timer = setTimeout(tick, 0);
  }

  function stop() {
    clearTimeout(view.timer);
    view.timer = null;
    $("conv-play").textContent = "▶ Play";
  }

  function fillLayers(run) {
    $("conv-layer").replaceChildren(...run.conv_layers.map((l) => option(l.name, `${l.name} (${l.out_channels} maps)`)));
  }

  window.addEventListener("DOMContentLoaded", () => {
    $("conv-step").onclick = () => { stop(); advance(1); };
    $("conv-back").onclick = () => { stop(); advance(-1); };
    $("conv-play").onclick = play;
    const reload = () => {
      const layer = $("conv-layer").value, channel = Math.max(0, Number($("conv-channel").value) || 0);
      if (!view.data || layer !== view.layer || channel !== view.channel) load(layer, channel);  // a blur re-sends "change"
    };
    $("conv-layer").onchange = reload;
    $("conv-channel").onchange = reload;
  });

  return {
    onRun(run) { stop(); view.data = null; view.stale = true; fillLayers(run); },
    onImage() { view.stale = true; if (state.view === "conv") load($("conv-layer").value, view.channel); },
    onShow() { if (view.stale) load($("conv-layer").value, Math.max(0, Number($("conv-channel").value) || 0)); },
    open(layer, channel) { $("conv-layer").value = layer; $("conv-channel").value = channel; load(layer, channel); },
  };
})();
