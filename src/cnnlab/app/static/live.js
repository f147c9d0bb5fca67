// Training live: the run's curves, first-layer filters and prediction, polled while it trains.
"use strict";

views.training = (() => {
  const view = { timer: null, busy: false };
  const POLL_MS = 1500;
  const CURVES = [
    { id: "curve-loss", title: "training loss (per step)", keys: ["loss"] },
    { id: "curve-acc", title: "accuracy: training (running), validation (•)", keys: ["train_acc", "val_acc"] },
    { id: "curve-lr", title: "learning rate", keys: ["lr"] },
  ];
  const SVG = "http://www.w3.org/2000/svg";

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // One curve box: lines for the first key, dots for the second (validation per epoch).
  function drawCurve(spec, curves) {
    const svg = $(spec.id);
    const W = 420, H = 180, L = 44, R = 10, T = 22, B = 24;
    const series = spec.keys.map((k) => curves[k] || []);
    const all = series.flat();
    svg.replaceChildren(svgEl("text", { x: L, y: 14 }, spec.title));
    if (!all.length) { svg.append(svgEl("text", { x: L, y: H / 2 }, "no points yet")); return; }
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    let y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
    const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
    svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
      svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }),
      svgEl("text", { x: 2, y: T + 8 }, fmtNum(y1)), svgEl("text", { x: 2, y: H - B }, fmtNum(y0)),
      svgEl("text", { x: L, y: H - 6 }, `step ${fmtNum(x0)}`), svgEl("text", { x: W - R - 70, y: H - 6 }, `step ${fmtNum(x1)}`));
    const line = svgEl("polyline", { points: series[0].map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ") });
    line.dataset.points = series[0].length;
    svg.append(line);
    for (const [x, y] of series[1] || []) svg.append(svgEl("circle", { cx: sx(x), cy: sy(y), r: 3, fill: "#d97706" }));
  }

  async function poll() {
    if (!state.run || view.busy) return;
    view.busy = true;
    try {
      const body = state.image ? imageForm() : new FormData();
      const data = await api(runPath("/live"), { method: "POST", body });
      show(data);
      if (data.status !== state.run.state) {  // started, finished or stopped: relabel the run list
        state.run.state = data.status;
        await refreshRuns();
      }
    } catch (err) { showError(err.message); } finally { view.busy = false; }
  }

  function show(data) {
    const badge = el("span", `badge ${data.status}`, data.status);
    const progress = data.step != null && data.total_steps ? ` step ${data.step} of ${data.total_steps}` : "";
    $("live-status").replaceChildren(badge, progress);
    $("live-note").hidden = data.status === "running";
    for (const spec of CURVES) drawCurve(spec, data.curves);
    if (data.filters) {
      $("live-filters").src = data.filters.image;
      const when = data.snapshot_step != null && data.status === "running" ? ` after step ${data.snapshot_step}` : "";
      $("live-filters-caption").textContent = `${data.filters.caption}${when}`;
    }
    showTopk($("live-topk"), data.top.slice(0, 3));
    if (data.status === "running" && data.top.length) showTopk($("topk"), data.top);  // the sidebar follows the training
  }

  function schedule() {
    clearInterval(view.timer);
    view.timer = setInterval(() => {
      if (state.view === "training" || (state.run && state.run.state === "running")) poll();
    }, POLL_MS);
  }

  return {
    onRun() { $("live-status").replaceChildren(); $("live-topk").replaceChildren(); $("live-filters").removeAttribute("src"); poll(); schedule(); },
    onImage() { if (state.view === "training") poll(); },
    onShow() { poll(); },
  };
})();

// New runs (a training just started) appear in the run list without a reload.
setInterval(() => { refreshRuns().catch(() => {}); }, 5000);
