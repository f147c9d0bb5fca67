// What neurons want: class visualisation, feature visualisation, fooling image (computed on the server).
"use strict";

views.neurons = (() => {
  async function busy(button, work) {
    button.disabled = true;
    try { await work(); } catch (err) { showError(err.message); } finally { button.disabled = false; }
  }

  function form(fields) {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, String(v));
    return f;
  }

  async function classvis() {
    const target = $("classvis-class").value;
    const data = await api(runPath("/classvis"), { method: "POST", body: form({ target }) });
    $("classvis-image").src = data.image;
    $("classvis-caption").textContent =
      `“${data.class}”: its score rose from ${fmtNum(data.start)} to ${fmtNum(data.end)} in ${data.steps} steps`;
  }

  async function featvis() {
    const layer = $("featvis-layer").value, channel = Number($("featvis-channel").value) || 0;
    const data = await api(runPath("/featvis"), { method: "POST", body: form({ layer, channel }) });
    $("featvis-image").src = data.image;
    $("featvis-caption").textContent =
      `${data.layer} channel ${data.channel}: mean activation ${fmtNum(data.start)} → ${fmtNum(data.end)}`;
  }

  async function fool() {
    if (!state.image) { showError("Draw or upload an image first: the fooling image starts from it."); return; }
    const data = await api(runPath("/fool"), { method: "POST", body: imageForm({ target: $("fool-class").value }) });
    $("fool-original").src = data.original;
    $("fool-original-caption").textContent = `your image: ${data.original_class}`;
    $("fool-delta").src = data.delta;
    $("fool-delta-caption").textContent =
      `the change, magnified ${fmtNum(data.magnified)}× (red +, blue −): L2 ${fmtNum(data.l2)}, largest ${(255 * data.linf).toFixed(1)}/255`;
    $("fool-image").src = data.fooled;
    $("fool-caption").textContent = data.success
      ? `the model now says ${data.fooled_class} (${(100 * data.target_prob).toFixed(1)}%) after ${data.steps} steps`
      : `not fooled after ${data.steps} steps: still ${data.fooled_class}`;
  }

  window.addEventListener("DOMContentLoaded", () => {
    $("classvis-go").onclick = () => busy($("classvis-go"), classvis);
    $("featvis-go").onclick = () => busy($("featvis-go"), featvis);
    $("fool-go").onclick = () => busy($("fool-go"), fool);
  });

  return {
    onRun(run) {
      const classes = run.classes.map((c, i) => option(i, `${i}: ${c}`));
      $("classvis-class").replaceChildren(...classes.map((o) => o.cloneNode(true)));
      $("fool-class").replaceChildren(...classes);
      $("featvis-layer").replaceChildren(...run.conv_layers.map((l) => option(l.name, `${l.name} (${l.out_channels})`)));
      for (const id of ["classvis-image", "featvis-image", "fool-original", "fool-delta", "fool-image"]) $(id).removeAttribute("src");
      for (const id of ["classvis-caption", "featvis-caption", "fool-original-caption", "fool-delta-caption", "fool-caption"]) $(id).textContent = "";
    },
  };
})();
