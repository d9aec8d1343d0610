// reglab's page script: the form's arm rows, and the experiment page's live charts.
// Live data arrives on the htmx SSE connection as `epoch` events (JSON); status cards arrive on
// the same connection as HTML fragments that htmx swaps by itself.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];

// ---- the form: add and remove arms (no inline handlers, so a strict CSP can forbid them) ----
document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-action]");
  if (!button) return;
  const form = button.closest("form");
  if (button.dataset.action === "add-arm") {
    const rows = form.querySelector("#arms");
    const row = form.querySelector("#arm-template").content.firstElementChild.cloneNode(true);
    row.querySelector('[name="arm_name"]').value = "arm " + (rows.children.length + 1);
    rows.appendChild(row);
  } else if (button.dataset.action === "remove-arm") {
    const rows = form.querySelector("#arms");
    if (rows.children.length > 1) button.closest("tr").remove();
  }
});

// ---- the experiment page ----
const Live = {
  runs: new Map(),  // run id -> {name, color, metrics: [], histograms: {layer: {...}}}
  pending: false,

  init() {
    const el = document.getElementById("experiment-data");
    if (!el || !window.Plotly) return;
    const data = JSON.parse(el.textContent);
    data.runs.forEach((r, i) => {
      const run = {id: r.id, name: r.name, color: PALETTE[i % PALETTE.length], metrics: [],
                   histograms: r.histograms.layers || {}};
      r.metrics.forEach((m) => { run.metrics[m.epoch - 1] = m; });
      this.runs.set(r.id, run);
    });
    this.paintSwatches();
    this.draw();
    document.body.addEventListener("htmx:sseOpen", (e) => this.attach(e.detail.source));
    // Cards are swapped in by htmx; give their colour swatches back.
    document.body.addEventListener("htmx:sseMessage", () => this.paintSwatches());
  },

  attach(source) {
    if (source.__reglab) return;
    source.__reglab = true;
    source.addEventListener("epoch", (e) => this.onEpoch(JSON.parse(e.data)));
  },

  onEpoch(ev) {
    const run = this.runs.get(ev.run_id);
    if (!run) return;
    // Indexed by epoch, so a replayed event (after a reconnect) replaces instead of duplicating.
    run.metrics[ev.metric.epoch - 1] = ev.metric;
    run.metrics.length = ev.metric.epoch;  // a restarted run drops epochs past this one
    if (ev.histograms && ev.histograms.layers) run.histograms = ev.histograms.layers;
    this.schedule();
  },

  schedule() {  // coalesce bursts of events into one redraw per animation frame
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  },

  paintSwatches() {
    document.querySelectorAll(".swatch[data-run]").forEach((s) => {
      const run = this.runs.get(Number(s.dataset.run));
      if (run) s.style.background = run.color;
    });
  },

  lines(field, label, dash) {
    const traces = [];
    for (const run of this.runs.values()) {
      const ms = run.metrics.filter(Boolean);
      traces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => m[field]), name: `${run.name} ${label}`,
                   legendgroup: String(run.id), mode: "lines+markers", type: "scatter",
                   line: {color: run.color, dash: dash || "solid"}, marker: {size: 5}});
    }
    return traces;
  },

  layout(title, ytitle, extra) {
    return Object.assign({title: {text: title, font: {size: 15}}, margin: {l: 55, r: 10, t: 40, b: 40},
      xaxis: {title: {text: "epoch"}, rangemode: "tozero", tickformat: "d"}, yaxis: {title: {text: ytitle}},
      legend: {orientation: "h", y: -0.25}, height: 340}, extra || {});
  },

  react(id, traces, layout) {
    const el = document.getElementById(id);
    if (el) Plotly.react(el, traces, layout, {displaylogo: false, responsive: true});
  },

  weightLayers() {
    const names = new Set();
    for (const run of this.runs.values())
      for (const m of run.metrics) if (m) Object.keys(m.layers).forEach((k) => names.add(k));
    return [...names].filter((n) => n.endsWith(".weight")).sort();
  },

  draw() {
    this.react("chart-loss", [...this.lines("train_loss", "train"), ...this.lines("val_loss", "val", "dash")],
               this.layout("Loss (data term; solid train, dashed validation)", "cross-entropy"));
    this.react("chart-acc", [...this.lines("train_acc", "train"), ...this.lines("val_acc", "val", "dash")],
               this.layout("Accuracy (solid train, dashed validation)", "accuracy"));
    const dashes = ["solid", "dot", "dash", "dashdot"];
    const wtraces = [];
    this.weightLayers().forEach((layer, li) => {
      for (const run of this.runs.values()) {
        const ms = run.metrics.filter((m) => m && m.layers[layer]);
        wtraces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => m.layers[layer].mean_abs),
                      name: `${run.name} ${layer}`, legendgroup: String(run.id), type: "scatter",
                      mode: "lines+markers", marker: {size: 5},
                      line: {color: run.color, dash: dashes[li % dashes.length]}});
      }
    });
    this.react("chart-weights", wtraces, this.layout("Mean |w| per weight matrix", "mean |w|"));
    this.react("chart-gap", this.lines("gap", "gap"),
               this.layout("Generalization gap (train − validation accuracy)", "gap"));
    this.drawHistograms();
  },

  drawHistograms() {
    const box = document.getElementById("histograms");
    if (!box) return;
    const layers = new Set();
    for (const run of this.runs.values()) Object.keys(run.histograms).forEach((k) => layers.add(k));
    for (const layer of [...layers].sort()) {
      const id = "hist-" + layer.replace(/[^a-zA-Z0-9_-]/g, "_");
      if (!document.getElementById(id)) {
        const div = document.createElement("div");
        div.className = "chart"; div.id = id; box.appendChild(div);
      }
      const traces = [];
      let epoch = 0;
      for (const run of this.runs.values()) {
        const h = run.histograms[layer];
        if (!h) continue;
        const e = h.edges;
        traces.push({type: "bar", name: run.name, marker: {color: run.color}, opacity: 0.55,
                     x: h.counts.map((_, i) => (e[i] + e[i + 1]) / 2),
                     width: h.counts.map((_, i) => e[i + 1] - e[i]), y: h.counts,
                     hovertemplate: `${run.name}: %{y} weights near %{x:.3f}<extra></extra>`});
        epoch = Math.max(epoch, run.metrics.length);
      }
      this.react(id, traces, this.layout(`Weights of ${layer} at the latest epoch (${epoch}), shared bins`,
                 "count", {barmode: "overlay", bargap: 0, xaxis: {title: {text: "weight value"}}}));
    }
  },
};

document.addEventListener("DOMContentLoaded", () => Live.init());
