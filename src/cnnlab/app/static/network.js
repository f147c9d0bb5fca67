// The network view: one column per layer, one tile per channel, lines from a chosen tile to the tiles it reads.
"use strict";

views.network = (() => {
  const view = { graph: null, selected: null, stale: true, values: null, seq: 0, loading: null };
  const KIND_NAMES = { input: "input", conv: "conv", act: "activation", pool: "pool", norm: "norm", linear: "linear",
    flatten: "flatten", add: "add (join)", cat: "concatenate (join)", mul: "multiply", other: "op" };

  async function load() {
    if (!state.run || !state.image) return;
    if (view.loading === state.image) return;  // this image's graph is on its way
    view.stale = false;
    view.loading = state.image;
    const seq = ++view.seq;  // only the newest answer is drawn
    try {
      const graph = await api(runPath("/graph"), { method: "POST", body: imageForm() });
      if (seq !== view.seq) return;
      view.graph = graph;
      draw();
    } catch (err) { showError(err.message); } finally { if (seq === view.seq) view.loading = null; }
  }

  function nodeBox(node) {
    const box = el("div", `node kind-${node.kind}`);
    box.dataset.node = node.id;
    const shape = node.shape.join("×");
    box.append(el("div", "node-kind", KIND_NAMES[node.kind] || node.kind));
    box.append(el("div", "node-label", `#${node.index} ${node.label}`));
    box.append(el("div", "node-shape muted", shape));
    box.title = `${node.id} (${node.op}), output ${shape}`;
    const tiles = el("div", "tiles");
    for (const t of node.tiles) tiles.append(tileImg(node, t));
    box.append(tiles);
    if (node.channels > node.tiles.length) {
      const more = el("button", "more small", `+${node.channels - node.tiles.length} more`);
      more.title = `${node.tiles.length} of ${node.channels} channels shown: show all`;
      more.onclick = () => expand(node, box, more);
      box.append(more);
    }
    if (node.vector) box.append(vectorBars(node));
    return box;
  }

  function tileImg(node, t) {
    const img = el("img", "tile");
    img.src = t.image;
    img.alt = `${node.id} channel ${t.channel}`;
    img.title = `channel ${t.channel}: ${fmtNum(t.min)} … ${fmtNum(t.max)}`;
    img.dataset.node = node.id;
    img.dataset.channel = t.channel;
    img.onclick = () => select(node.id, t.channel);
    return img;
  }

  function vectorBars(node) {
    const wrap = el("div", "vector");
    const top = Math.max(...node.vector.map(Math.abs), 1e-12);
    const classes = node.vector_size === state.run.num_classes ? state.run.classes : null;
    node.vector.slice(0, 16).forEach((v, i) => {
      const row = el("div", "vrow");
      const bar = el("span", `vbar ${v < 0 ? "neg" : ""}`);
      bar.style.width = `${(40 * Math.abs(v)) / top}px`;
      row.append(el("span", "vname", classes ? classes[i] : String(i)), bar, el("span", "vval", fmtNum(v)));
      wrap.append(row);
    });
    if (node.vector_size > 16) wrap.append(el("div", "muted small", `… ${node.vector_size} values`));
    return wrap;
  }

  async function expand(node, box, button) {
    button.disabled = true;
    try {
      const data = await api(runPath("/graph/tiles"), { method: "POST",
        body: imageForm({ node: node.id, start: node.tiles.length, count: node.channels }) });
      node.tiles.push(...data.tiles);
      const tiles = box.querySelector(".tiles");
      for (const t of data.tiles) tiles.append(tileImg(node, t));
      button.remove();
      drawLines();
    } catch (err) { showError(err.message); button.disabled = false; }
  }

  function draw() {
    const g = view.graph;
    $("graph-note").hidden = g.traced;
    $("graph-note").textContent = g.traced ? "" : g.note;
    const columns = Array.from({ length: g.columns }, () => el("div", "column"));
    for (const node of g.nodes) columns[node.column].append(nodeBox(node));
    $("graph").replaceChildren(...columns);
    view.selected = null;
    $("tile-card").hidden = true;
    requestAnimationFrame(drawLines);
  }

  function anchor(elem, side) {
    const wrap = $("graph-wrap").getBoundingClientRect();
    const r = elem.getBoundingClientRect();
    const x = (side === "right" ? r.right : r.left) - wrap.left + $("graph-wrap").scrollLeft;
    return [x, r.top + r.height / 2 - wrap.top + $("graph-wrap").scrollTop];
  }

  function line(svg, [x1, y1], [x2, y2], cls) {
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    const mid = (x1 + x2) / 2;
    path.setAttribute("d", `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`);
    path.setAttribute("class", cls);
    svg.append(path);
  }

  // Grey: which layer feeds which (branches and joins); blue: what the selected tile reads.
  function drawLines() {
    const svg = $("graph-lines");
    const content = $("graph");
    svg.setAttribute("width", content.scrollWidth);
    svg.setAttribute("height", content.scrollHeight);
    svg.replaceChildren();
    if (!view.graph) return;
    const boxes = Object.fromEntries([...content.querySelectorAll(".node")].map((b) => [b.dataset.node, b]));
    const column = Object.fromEntries(view.graph.nodes.map((n) => [n.id, n.column]));
    const bottom = {};  // column -> lowest box edge in it
    for (const [id, b] of Object.entries(boxes)) {
      const c = column[id];
      bottom[c] = Math.max(bottom[c] ?? 0, anchor(b, "left")[1] + b.offsetHeight / 2);
    }
    let skips = 0;
    for (const node of view.graph.nodes) {
      for (const input of node.inputs) {
        if (!boxes[input] || !boxes[node.id]) continue;
        if (column[node.id] - column[input] > 1) {  // a branch that skips layers: drawn under the columns to its join
          skips += 1;
          const [x1, y1] = anchor(boxes[input], "right"), [x2, y2] = anchor(boxes[node.id], "left");
          const b1 = y1 + boxes[input].offsetHeight / 2, b2 = y2 + boxes[node.id].offsetHeight / 2;
          let y = 0;
          for (let c = column[input]; c <= column[node.id]; c++) y = Math.max(y, bottom[c] ?? 0);
          y += 14 + 8 * (skips % 4);
          const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
          path.setAttribute("d", `M${x1 - 20},${b1} C${x1 - 20},${y} ${x1},${y} ${x1 + 20},${y} L${x2 - 20},${y} C${x2},${y} ${x2 + 20},${y} ${x2 + 20},${b2}`);
          path.setAttribute("class", "edge skip");
          svg.append(path);
        } else {
          line(svg, anchor(boxes[input], "right"), anchor(boxes[node.id], "left"), "edge");
        }
      }
    }
    if (!view.selected) return;
    const { node, channel, reads } = view.selected;
    const from = content.querySelector(`img.tile[data-node="${CSS.escape(node)}"][data-channel="${channel}"]`);
    if (!from) return;
    for (const r of reads) {
      const targets = [...content.querySelectorAll(`img.tile[data-node="${CSS.escape(r.id)}"]`)]
        .filter((t) => r.channels === null || r.channels.includes(Number(t.dataset.channel)));
      const target = boxes[r.id];
      if (!targets.length && target) line(svg, anchor(target, "right"), anchor(from, "left"), "reads");
      for (const t of targets) line(svg, anchor(t, "right"), anchor(from, "left"), "reads");
    }
  }

  async function select(nodeId, channel) {
    try {
      const tile = await api(runPath("/tile"), { method: "POST", body: imageForm({ node: nodeId, channel }) });
      view.selected = { node: nodeId, channel, reads: tile.reads };
      for (const t of document.querySelectorAll("img.tile.selected")) t.classList.remove("selected");
      const img = document.querySelector(`img.tile[data-node="${CSS.escape(nodeId)}"][data-channel="${channel}"]`);
      if (img) img.classList.add("selected");
      drawLines();
      openLarge(tile);
    } catch (err) { showError(err.message); }
  }

  function openLarge(tile) {
    $("tile-card").hidden = false;
    $("tile-title").textContent = `${tile.id} · ${tile.label} · channel ${tile.channel} · ${tile.shape.join("×")}`;
    $("tile-image").src = tile.image;
    $("tile-range").textContent = `values from ${fmtNum(tile.min)} (dark) to ${fmtNum(tile.max)} (yellow)`;
    const reads = tile.reads.map((r) => `${r.id} ${r.channels === null ? "(all channels)"
      : `channel${r.channels.length > 1 ? "s" : ""} ${r.channels.length > 6 ? `${r.channels[0]}–${r.channels.at(-1)}` : r.channels.join(", ")}`}`);
    $("tile-reads").textContent = reads.length ? `Reads: ${reads.join("; ")}` : "The input image.";
    view.values = tile.values;
    const conv = tile.kind === "conv";
    $("tile-animate").hidden = !conv;
    $("tile-animate").onclick = () => { views.conv.open(tile.id, tile.channel); showView("conv"); };
  }

  function hover(e) {
    if (!view.values) return;
    const r = e.target.getBoundingClientRect();
    const h = view.values.length, w = view.values[0].length;
    const i = Math.min(h - 1, Math.floor(((e.clientY - r.top) / r.height) * h));
    const j = Math.min(w - 1, Math.floor(((e.clientX - r.left) / r.width) * w));
    $("tile-hover").textContent = `row ${i}, column ${j}: ${fmtNum(view.values[i][j])}`;
  }

  window.addEventListener("DOMContentLoaded", () => {
    $("tile-image").addEventListener("mousemove", hover);
    window.addEventListener("resize", () => requestAnimationFrame(drawLines));
  });

  return {
    onRun() {
      view.graph = null;
      view.loading = null;
      view.seq += 1;
      view.stale = true;
      $("graph").replaceChildren(el("p", "muted placeholder", "Draw or upload an image to see the network at work."));
      $("graph-lines").replaceChildren();
      $("tile-card").hidden = true;
    },
    onImage() { view.stale = true; if (state.view === "network") load(); },
    onShow() { if (view.stale) load(); else requestAnimationFrame(drawLines); },
    select,
  };
})();
