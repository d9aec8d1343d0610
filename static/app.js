// reglab's page script: the form's arm rows, and the experiment page's live charts.
// Live data arrives on the htmx SSE connection as `epoch` events (JSON); status cards arrive on
// the same connection as HTML fragments that htmx swaps by itself.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];

// ---- the form: add, remove and expand arms (no inline handlers, so a strict CSP can forbid them) ----
function renumberArms(form) {
  // Fields are named runs.<i>.<field>; keep <i> equal to the row's position so errors match.
  form.querySelectorAll("tbody.arm").forEach((arm, i) => {
    arm.querySelectorAll("[name^='runs.']").forEach((el) => {
      el.name = el.name.replace(/^runs\.[^.]+\./, `runs.${i}.`);
    });
  });
}

document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-action]");
  if (!button) return;
  const form = button.closest("form");
  const action = button.dataset.action;
  if (action === "add-arm") {
    const arms = form.querySelectorAll("tbody.arm");
    const fresh = form.querySelector("#arm-template").content.querySelector("tbody.arm").cloneNode(true);
    fresh.querySelector("[name$='.name']").value = "arm " + (arms.length + 1);
    (arms.length ? arms[arms.length - 1] : form.querySelector("table.arms thead")).after(fresh);
    renumberArms(form);
  } else if (action === "remove-arm") {
    if (form.querySelectorAll("tbody.arm").length > 1) button.closest("tbody.arm").remove();
    renumberArms(form);
  } else if (action === "toggle-more") {
    const more = button.closest("tbody.arm").querySelector("tr.arm-more");
    more.hidden = !more.hidden;
    button.setAttribute("aria-expanded", String(!more.hidden));
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
    this.experimentId = data.experiment_id;
    // The experiment page charts one experiment's arms; the compare page any runs, by these.
    this.curvesUrl = data.curves_url || `/api/experiments/${data.experiment_id}/curves`;
    this.histogramsUrl = data.histograms_url || `/api/experiments/${data.experiment_id}/histograms`;
    // The scrubber: on the experiment page only (the compare page's runs have epochs of their own).
    this.scrubbing = !data.histograms_url;
    const urlEpoch = Number(new URLSearchParams(location.search).get("epoch"));
    this.hist = {epoch: urlEpoch >= 1 ? Math.floor(urlEpoch) : null, follow: !(urlEpoch >= 1),
                 log: new URLSearchParams(location.search).get("log") === "1",
                 cache: new Map(), inflight: new Set(), playing: null, debounce: null};
    this.sweep = data.sweep;  // null unless the experiment is a sweep
    this.sweepLabel = data.sweep_label;
    this.pinned = null;  // the arm picked to show beside the zero arm (sweeps)
    this.loaded = false;  // until the curves arrive, stream events wait in `early`
    this.early = [];
    data.runs.forEach((r, i) => {
      this.runs.set(r.id, {id: r.id, name: r.name, value: r.value, color: PALETTE[i % PALETTE.length],
                           metrics: [], histograms: {}});
    });
    this.paintSwatches();
    const pick = document.getElementById("sweep-arm");
    ViewState.restore();
    if (pick && ViewState.get("arm") && this.runs.has(Number(ViewState.get("arm")))) {
      pick.value = ViewState.get("arm");
      this.pinned = Number(pick.value);
    }
    if (pick) pick.addEventListener("change", () => {
      this.pinned = Number(pick.value);
      ViewState.set("arm", pick.value);
      this.draw();
    });
    // Dark mode follows the system while the page is open, charts included.
    window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", () => this.draw());
    document.body.addEventListener("htmx:sseOpen", (e) => this.attach(e.detail.source));
    // Cards are swapped in by htmx; give their colour swatches back.
    document.body.addEventListener("htmx:sseMessage", () => { this.paintSwatches(); this.refreshSummary(); });
    this.loadCurves();
    this.refreshSummary();
  },

  // The verdict table: re-fetched after epochs and status changes, at most once a second (a
  // burst of events costs one request, and the last event is always followed by one).
  refreshSummary() {
    const box = document.getElementById("verdict");
    if (!box) return;  // the compare page has none
    if (this.summaryWait) { this.summaryAgain = true; return; }
    this.summaryWait = setTimeout(() => {
      this.summaryWait = null;
      if (this.summaryAgain) { this.summaryAgain = false; this.refreshSummary(); }
    }, 1000);
    fetch(box.dataset.summaryUrl).then((r) => (r.ok ? r.json() : null))
      .then((s) => { if (s) drawVerdict(s, this.runs); }).catch(() => {});
  },

  // The page carries no measurements (its size must not grow with the experiment): the curves
  // come by one compact request, histograms by another, for the epoch shown.
  async loadCurves() {
    const r = await fetch(this.curvesUrl);
    if (!r.ok) return;
    const curves = await r.json();
    for (const c of curves.runs) {
      const run = this.runs.get(c.run_id);
      if (run) run.metrics = metricsFromColumns(c);
    }
    this.loaded = true;
    // Events the stream delivered meanwhile are at least as new as the curves: apply them after.
    this.early.splice(0).forEach((ev) => this.onEpoch(ev));
    this.draw();
    this.loadHistograms();
  },

  async loadHistograms() {
    const r = await fetch(this.histogramsUrl);
    if (!r.ok) return;
    for (const h of (await r.json()).runs) {
      const run = this.runs.get(h.run_id);
      // Keep what a live event brought if it is newer than this answer.
      if (run && h.epoch !== null && !(run.histEpoch > h.epoch)) {
        run.histograms = h.layers;
        run.histEpoch = h.epoch;
      }
    }
    this.schedule();
  },

  attach(source) {
    if (source.__reglab) return;
    source.__reglab = true;
    source.addEventListener("epoch", (e) => this.onEpoch(JSON.parse(e.data)));
    // A replay sends epochs without histograms: fetch the newest once it is done.
    source.addEventListener("caught-up", () => { if (this.loaded) this.loadHistograms(); this.refreshSummary(); });
    source.addEventListener("heartbeats", (e) => {
      for (const [runId, at] of Object.entries(JSON.parse(e.data))) {
        const el = document.querySelector(`#run-${runId} .hb-age`);
        if (el) el.dataset.at = at;
      }
      tickHeartbeats();
    });
  },

  onEpoch(ev) {
    if (!this.loaded) { this.early.push(ev); return; }
    const run = this.runs.get(ev.run_id);
    if (!run) return;
    // Indexed by epoch, so a replayed event (after a reconnect) replaces instead of duplicating.
    const epoch = ev.metric.epoch;
    // A resumed run trains again the epochs after its resume state: those it had reported stay
    // on the charts, faded (lines() draws them), until the retrained ones replace them.
    const old = new Map((run.superseded || []).map((m) => [m.epoch, m]));
    run.metrics.slice(epoch).forEach((m) => m && old.set(m.epoch, m));
    run.superseded = [...old.values()].filter((m) => m.epoch > epoch).sort((a, b) => a.epoch - b.epoch);
    run.metrics[epoch - 1] = ev.metric;
    run.metrics.length = epoch;
    this.refreshSummary();
    if (ev.histograms && ev.histograms.layers) {
      run.histograms = ev.histograms.layers;
      run.histEpoch = ev.histograms.epoch;
    }
    this.schedule();
  },

  // Coalesce bursts of events into one redraw, and leave the page at least half of its time
  // between redraws: a large experiment's full redraw takes long, and events keep coming.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    const wait = Math.max(0, (this.nextDrawAt || 0) - performance.now());
    setTimeout(() => requestAnimationFrame(() => { this.pending = false; this.draw(); }), wait);
  },

  paintSwatches() {
    document.querySelectorAll(".swatch[data-run]").forEach((s) => {
      const run = this.runs.get(Number(s.dataset.run));
      if (run) s.style.background = run.color;
    });
  },

  visible() {  // a sweep's curves show its zero arm and one chosen arm; other experiments, all
    const all = [...this.runs.values()];
    if (!this.sweep) return all;
    const chosen = this.pinned ?? this.best()?.id ?? all[all.length - 1].id;
    return all.filter((r) => r.value === 0 || r.id === chosen);
  },

  latest(run) {
    const ms = run.metrics.filter(Boolean);
    return ms.length ? ms[ms.length - 1] : null;
  },

  best() {
    let best = null;
    for (const run of this.runs.values()) {
      const m = this.latest(run);
      if (m && (!best || m.val_acc > best.m.val_acc)) best = {id: run.id, m};
    }
    return best;
  },

  lines(field, label, dash) {
    const traces = [];
    for (const run of this.visible()) {
      const ms = run.metrics.filter(Boolean);
      traces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => m[field]), name: label ? `${run.name} ${label}` : run.name,
                   legendgroup: String(run.id), mode: lineMode(ms.length), type: "scatter",
                   line: {color: run.color, dash: dash || "solid"}, marker: {size: 5}});
      const old = run.superseded || [];  // reported before a resume, not yet trained again
      if (old.length) traces.push({x: old.map((m) => m.epoch), y: old.map((m) => m[field]),
                   name: `${label ? `${run.name} ${label}` : run.name} (being retrained)`, legendgroup: String(run.id),
                   showlegend: false, mode: "lines+markers", type: "scatter", opacity: 0.3,
                   line: {color: run.color, dash: dash || "solid"}, marker: {size: 5}});
    }
    return traces;
  },

  // The title sits below the row Plotly's toolbar takes (never under it) and wraps on narrow
  // screens; colours come from the page's theme (light or dark).
  layout(title, ytitle, extra) {
    const theme = chartTheme();
    const base = {
      title: {text: wrapTitle(title), font: {size: 15}, x: 0.01, xanchor: "left", xref: "container",
              y: 1 - TITLE_TOP / CHART_HEIGHT, yref: "container", yanchor: "top"},
      margin: {l: 55, r: 10, t: TITLE_TOP + 22 * titleLines(title) + 8, b: 40},
      // Whole epochs only: on a narrow chart Plotly would put ticks at half epochs.
      xaxis: {title: {text: "epoch", standoff: 4}, rangemode: "tozero", tickformat: "d", gridcolor: theme.grid,
              zerolinecolor: theme.grid, dtick: this.epochTick()},
      yaxis: {title: {text: ytitle}, gridcolor: theme.grid, zerolinecolor: theme.grid},
      legend: {orientation: "h", y: -0.3, yanchor: "top"}, height: CHART_HEIGHT,
      paper_bgcolor: theme.bg, plot_bgcolor: theme.bg, font: {color: theme.fg},
    };
    const {percent, ...rest} = extra || {};
    const merged = Object.assign(base, rest);
    for (const axis of ["xaxis", "yaxis"]) {  // keep the theme's grid when a chart sets its axis
      if (rest[axis]) merged[axis] = Object.assign({gridcolor: theme.grid, zerolinecolor: theme.grid}, rest[axis]);
      // Plotly's default prints 0.6 as "600m" and 1e-5 as "10µ": never SI prefixes on a value.
      merged[axis].exponentformat = "e";
    }
    // Fractions (accuracy, gap, zero fractions) as percentages; "~" drops trailing zeros, so
    // 0.0001 reads 0.01%, not 0.0%.
    if (percent) merged.yaxis.tickformat = "~%";
    return merged;
  },

  epochTick() {
    let last = 1;
    for (const run of this.runs.values()) last = Math.max(last, run.metrics.length);
    return Math.max(1, Math.ceil(last / (window.innerWidth < 600 ? 5 : 10)));
  },

  react(id, traces, layout) {
    const el = document.getElementById(id);
    if (el) Plotly.react(el, traces, layout, chartConfig(id));
  },

  weightLayers() {
    const names = new Set();
    for (const run of this.runs.values())
      for (const m of run.metrics) if (m) Object.keys(m.layers).forEach((k) => names.add(k));
    return [...names].filter((n) => n.endsWith(".weight") && !/(^|\.)bn_/.test(n)).sort();
  },

  layerLines(stat) {  // one line per arm and weight matrix; the dash tells the layer
    const dashes = ["solid", "dot", "dash", "dashdot", "longdash"];
    const traces = [];
    this.weightLayers().forEach((layer, li) => {
      for (const run of this.visible()) {
        const ms = run.metrics.filter((m) => m && m.layers[layer]);
        traces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => m.layers[layer][stat]),
                     name: `${run.name} ${layer.replace(".weight", "")}`, legendgroup: String(run.id),
                     type: "scatter", mode: lineMode(ms.length), marker: {size: 5},
                     line: {color: run.color, dash: dashes[li % dashes.length]}});
      }
    });
    return traces;
  },

  // One chart per task, the loss first: the browser paints between them, so the first chart shows
  // as soon as it is drawn, and a newer draw() abandons what is left of an older one.
  draw() {
    const generation = (this.generation = (this.generation || 0) + 1);
    const steps = this.drawSteps();
    const started = performance.now();
    const next = () => {
      if (generation !== this.generation) return;
      steps.shift()();
      if (steps.length) setTimeout(next, 0);
      else this.nextDrawAt = performance.now() + (performance.now() - started);
    };
    next();
  },

  drawSteps() {
    return [() => this.react("chart-loss", [...this.lines("train_loss", "train"), ...this.lines("val_loss", "val", "dash")],
               this.layout("Loss (data term; solid train, dashed validation)", "cross-entropy")),
    () => this.react("chart-acc", [...this.lines("train_acc", "train"), ...this.lines("val_acc", "val", "dash")],
               this.layout("Accuracy (solid train, dashed validation)", "accuracy", {percent: true})),
    () => this.react("chart-gap", this.lines("gap", "gap"),
               this.layout("Generalization gap (train − validation accuracy)", "gap", {percent: true})),
    () => {
      const extra = document.getElementById("extra-stat");
      const extraKey = extra ? extra.value : "penalty";
      const extraLabel = extra ? extra.options[extra.selectedIndex].text : "penalty term in the loss";
      this.react("chart-extra", this.lines(extraKey, ""), this.layout(extraLabel, extraKey));
    },
    () => {
      const select = document.getElementById("layer-stat");
      const stat = select ? select.value : "mean_abs";
      const label = select ? select.options[select.selectedIndex].text : "mean |w|";
      this.react("chart-weights", this.layerLines(stat),
                 this.layout(`${label} per weight matrix (solid: first layer)`, label, {percent: stat === "near_zero_frac"}));
    },
    () => this.react("chart-sparsity", this.layerLines("zero_frac"),
               this.layout("Exact zeros (fraction of weights = 0)", "fraction", {yaxis: {title: {text: "fraction"}, rangemode: "tozero"}, percent: true})),
    () => this.drawHistograms(),
    () => { if (this.sweep) this.drawPath(); }];
  },

  drawPath() {
    const isLog = this.sweep.param !== "dropout";
    const pts = [...this.runs.values()].map((run) => [run, this.latest(run)])
      .filter(([run, m]) => m && (run.value > 0 || !isLog)).sort((a, b) => a[0].value - b[0].value);
    const zero = [...this.runs.values()].find((r) => r.value === 0);
    const zm = zero && isLog ? this.latest(zero) : null;
    const xs = pts.map(([run]) => run.value);
    const best = this.best();
    const label = this.sweepLabel || "swept value";
    const xaxis = {title: {text: label}, type: isLog ? "log" : "linear"};
    const series = (key, name, color, dash, pick = (m) => m[key]) => ({
      x: xs, y: pts.map(([, m]) => pick(m)), name, type: "scatter", mode: "lines+markers",
      line: {color, dash}, customdata: pts.map(([run]) => run.id), text: pts.map(([run]) => run.name),
      hovertemplate: "%{text}: %{y:.4g}<extra>" + name + "</extra>"});
    const refLine = (key, name, color, pick = (m) => m[key]) => zm && xs.length ? [{
      x: [xs[0], xs[xs.length - 1]], y: [pick(zm), pick(zm)], name: `${name} at 0`, type: "scatter",
      mode: "lines", line: {color, dash: "dot", width: 1}, hoverinfo: "name+y"}] : [];
    const bestMark = best ? pts.filter(([run]) => run.id === best.id).map(([run, m]) => ({
      x: [run.value], y: [m.val_acc], name: `best: ${run.name}`, type: "scatter", mode: "markers",
      marker: {symbol: "star", size: 16, color: "#d4a017"}, hoverinfo: "name+y"})) : [];
    this.react("path-acc", [series("val_acc", "validation", "#1f77b4", "solid"),
      series("train_acc", "training", "#1f77b4", "dash"), ...refLine("val_acc", "validation", "#1f77b4"),
      ...bestMark], this.layout("Accuracy against the swept value", "accuracy", {xaxis, percent: true}));
    this.react("path-loss", [series("val_loss", "validation", "#d62728", "solid"),
      series("train_loss", "training (data term)", "#d62728", "dash"),
      ...refLine("val_loss", "validation", "#d62728")],
      this.layout("Loss against the swept value", "cross-entropy", {xaxis}));
    this.react("path-gap", [series("gap", "gap", "#2ca02c", "solid"), ...refLine("gap", "gap", "#2ca02c")],
      this.layout("Generalization gap against the swept value", "train − validation accuracy", {xaxis, percent: true}));
    const layers = this.weightLayers();
    const dashes = ["solid", "dot", "dash", "dashdot"];
    this.react("path-weights", layers.map((layer, i) => series("", layer.replace(".weight", ""),
      "#9467bd", dashes[i % 4], (m) => m.layers[layer]?.mean_abs)),
      this.layout("Mean |w| per weight matrix (the coefficient path)", "mean |w|", {xaxis}));
    this.react("path-sparsity", layers.flatMap((layer, i) => [
      series("", `${layer.replace(".weight", "")} exact zeros`, "#ff7f0e", dashes[i % 4],
             (m) => m.layers[layer]?.zero_frac),
      series("", `${layer.replace(".weight", "")} |w| < 1e-3`, "#8c564b", dashes[i % 4],
             (m) => m.layers[layer]?.near_zero_frac)]),
      this.layout("Sparsity against the swept value", "fraction of weights", {xaxis, percent: true}));
    for (const id of ["path-acc", "path-loss", "path-gap", "path-weights", "path-sparsity"]) {
      const el = document.getElementById(id);
      if (el && !el.__clicks) {
        el.__clicks = true;
        el.on("plotly_click", (ev) => {
          const runId = ev.points[0]?.customdata;
          if (!runId) return;
          this.pinned = runId;
          document.getElementById("sweep-arm").value = String(runId);
          document.getElementById(`run-${runId}`)?.scrollIntoView({behavior: "smooth", block: "nearest"});
          this.draw();
        });
      }
    }
    const pick = document.getElementById("sweep-arm");
    if (pick && this.pinned === null && best) pick.value = String(best.id);
    const link = document.getElementById("best-download");
    const bestRun = best && this.runs.get(best.id);
    const url = best && document.querySelector(`#run-${best.id} a.download`)?.getAttribute("href");
    document.getElementById("best-arm").textContent = bestRun
      ? `Best so far: ${bestRun.name}, validation accuracy ${best.m.val_acc.toFixed(4)} (epoch ${best.m.epoch}).`
      : "The best arm is marked ★ once arms have finished epochs.";
    if (link) { link.hidden = !url; if (url) link.href = url; }
  },

  // ---- the epoch scrubber and the histograms it drives ----
  // The experiment page: one slider (1..the latest epoch of any arm) picks the epoch every arm's
  // histograms show; an arm that has not reached it is listed as "not yet at epoch N", never drawn
  // at another. The compare page shows each run's latest epoch, with the log toggle only.
  initScrubber() {
    const box = document.getElementById("histograms");
    if (!box || document.getElementById("hist-tools")) return;
    const tools = document.createElement("div");
    tools.className = "chart-tools scrubber";
    tools.id = "hist-tools";
    tools.innerHTML = (this.scrubbing ? `
      <label for="epoch-slider">Histograms at epoch</label>
      <input type="range" id="epoch-slider" min="1" max="1" step="1" value="1">
      <output id="epoch-value" for="epoch-slider">1</output>
      <button type="button" id="epoch-play" aria-pressed="false">Play</button>
      <label class="check"><input type="checkbox" id="epoch-follow" checked> follow latest</label>` : "") + `
      <label class="check"><input type="checkbox" id="hist-log"> log counts</label>
      <span class="hint" id="epoch-missing" role="status"></span>`;
    box.before(tools);
    const h = this.hist;
    const log = document.getElementById("hist-log");
    log.checked = h.log;
    log.addEventListener("change", () => { h.log = log.checked; ViewState.set("log", h.log ? "1" : "0"); this.drawHistograms(); });
    if (!this.scrubbing) return;
    const slider = document.getElementById("epoch-slider");
    const follow = document.getElementById("epoch-follow");
    follow.checked = h.follow;
    slider.addEventListener("input", () => {  // dragging: the label at once, the charts debounced
      this.pickEpoch(Number(slider.value));
      clearTimeout(h.debounce);
      h.debounce = setTimeout(() => this.drawHistograms(), 120);
    });
    slider.addEventListener("change", () => { clearTimeout(h.debounce); this.drawHistograms(); });
    follow.addEventListener("change", () => {
      this.stopPlay();
      h.follow = follow.checked;
      if (h.follow) ViewState.unset("epoch");
      else ViewState.set("epoch", String(this.shownEpoch()));
      h.epoch = this.shownEpoch();
      this.syncScrubber();
      this.drawHistograms();
    });
    document.getElementById("epoch-play").addEventListener("click", () => {
      if (h.playing) { this.stopPlay(); return; }
      const last = this.lastEpoch();
      if (this.shownEpoch() >= last) this.pickEpoch(1);
      else this.pickEpoch(this.shownEpoch());
      this.setPlaying(true);
      this.drawHistograms();
      h.playing = setInterval(() => {
        if (this.shownEpoch() >= this.lastEpoch()) { this.stopPlay(); return; }
        this.pickEpoch(this.shownEpoch() + 1);
        this.drawHistograms();
      }, 800);
    });
    this.syncScrubber();
  },

  setPlaying(on) {
    const b = document.getElementById("epoch-play");
    if (!b) return;
    b.textContent = on ? "Pause" : "Play";
    b.setAttribute("aria-pressed", String(on));
  },

  stopPlay() {
    clearInterval(this.hist.playing);
    this.hist.playing = null;
    this.setPlaying(false);
  },

  pickEpoch(n) {  // a chosen epoch: follow-latest off, the epoch in the URL
    const h = this.hist;
    h.follow = false;
    h.epoch = Math.max(1, n);
    const follow = document.getElementById("epoch-follow");
    if (follow) follow.checked = false;
    ViewState.set("epoch", String(h.epoch));
    this.syncScrubber();
  },

  lastEpoch() {
    let last = 0;
    for (const run of this.runs.values()) last = Math.max(last, run.metrics.length, run.histEpoch || 0);
    return last;
  },

  shownEpoch() {
    const last = this.lastEpoch();
    return this.hist.follow || this.hist.epoch === null ? Math.max(1, last) : this.hist.epoch;
  },

  syncScrubber() {
    const slider = document.getElementById("epoch-slider");
    if (!slider) return;
    const n = this.shownEpoch();
    slider.max = String(Math.max(1, this.lastEpoch(), n));
    slider.value = String(n);
    slider.setAttribute("aria-valuetext", `epoch ${n} of ${slider.max}`);
    document.getElementById("epoch-value").textContent = `${n} / ${slider.max}`;
  },

  // One arm's histograms at epoch n: its layers, null where it has none there, undefined while
  // unknown (then fetched: one request per epoch, cached, again only when arms have moved on).
  histAt(run, n) {
    if (run.histEpoch === n) return run.histograms;
    const c = this.hist.cache.get(n);
    return c && c.runs.has(run.id) ? c.runs.get(run.id) : undefined;
  },

  async fetchEpoch(n) {
    const h = this.hist;
    const key = [...this.runs.values()].map((r) => r.metrics.length).join(",");
    const c = h.cache.get(n);
    if (h.inflight.has(n) || (c && c.key === key)) return;
    h.inflight.add(n);
    try {
      const r = await fetch(`${this.histogramsUrl}?epoch=${n}`);
      if (!r.ok) return;
      const runs = new Map();
      for (const a of (await r.json()).runs) runs.set(a.run_id, a.epoch === n ? a.layers : null);
      h.cache.set(n, {key, runs});
    } finally {
      h.inflight.delete(n);
    }
    if (this.shownEpoch() === n) this.drawHistograms();
  },

  drawHistograms() {
    const box = document.getElementById("histograms");
    if (!box) return;
    this.initScrubber();
    this.syncScrubber();
    const n = this.scrubbing ? this.shownEpoch() : null;
    // Per visible arm: its layers at the epoch shown, or null (not there yet).
    const arms = [];
    let waiting = false;
    for (const run of this.visible()) {
      if (!this.scrubbing) { arms.push([run, run.histEpoch ? run.histograms : null, run.histEpoch]); continue; }
      let hs = run.metrics.length >= n || run.histEpoch >= n ? this.histAt(run, n) : null;
      if (hs === undefined || (hs === null && run.metrics.length >= n)) {
        this.fetchEpoch(n);
        if (hs === undefined) { waiting = true; continue; }
      }
      arms.push([run, hs, n]);
    }
    if (waiting) return;  // drawn when the epoch's answer arrives; the charts keep the last one
    const missing = arms.filter(([, hs]) => !hs).map(([run]) => run);
    const note = document.getElementById("epoch-missing");
    if (note) note.textContent = missing.length ? missing.map((r) => `${r.name}: not yet at epoch ${n}`).join(" · ") : "";
    const layers = new Set();
    for (const [, hs] of arms) if (hs) Object.keys(hs).forEach((k) => layers.add(k));
    for (const layer of [...layers].sort()) {
      const id = "hist-" + layer.replace(/[^a-zA-Z0-9_-]/g, "_");
      if (!document.getElementById(id)) {
        const div = document.createElement("div");
        div.className = "chart"; div.id = id; box.appendChild(div);
      }
      this.drawHistogram(id, layer, arms.filter(([, hs]) => hs && hs[layer]), missing, n);
    }
  },

  drawHistogram(id, layer, arms, missing, n) {
    // An experiment's arms share the bins; an arm whose weights grew further sits on a wider
    // level. Re-bin every arm to the widest level present (exact: a level merges pairs of
    // bins). Arms of different experiments (the compare page) have bins of their own.
    const hs = arms.map(([run, layers, epoch]) => [run, layers[layer], epoch]);
    if (!hs.length) return;
    const shared = hs.every(([, h]) => h.base === hs[0][1].base && h.counts.length === hs[0][1].counts.length);
    const level = Math.max(...hs.map(([, h]) => h.level));
    const log = this.hist.log;
    const traces = [];
    const ranges = [];  // [edges, counts] per arm, for the fitted x-range
    let ymax = 1;
    for (const [run, h, epoch] of hs) {
      const lv = shared ? level : h.level, bins = h.counts.length, r = h.base * 2 ** lv;
      const width = (2 * r) / bins;
      const edges = Array.from({length: bins + 1}, (_, i) => -r + i * width);
      const counts = shared ? coarsen(h.counts, h.level, level) : h.counts;
      ranges.push([edges, counts]);
      ymax = Math.max(ymax, ...counts);
      // A step outline over the bin edges, closed to 0 at both ends; on a log axis an empty bin
      // drops below the axis (0.5, under its start) instead of breaking the line.
      const ys = [0, ...counts, counts[bins - 1], 0];
      const label = this.scrubbing ? `${run.name} · epoch ${epoch}` : `${run.name} · epoch ${epoch}`;
      traces.push({type: "scatter", mode: "lines", name: label, legendgroup: String(run.id),
        x: [edges[0], ...edges, edges[bins]], y: log ? ys.map((c) => Math.max(c, 0.5)) : ys,
        customdata: ys, line: {color: run.color, shape: "hv", width: 1.6},
        hovertemplate: `${run.name}: %{customdata} weights from %{x:.3g}<extra></extra>`});
      // Exact zeros sit in the bin(s) touching 0: label them, so an L1 spike reads as such.
      const zf = run.metrics[epoch - 1]?.layers?.[layer]?.zero_frac;
      if (zf > 0) {
        const total = counts.reduce((a, b) => a + b, 0);
        const zeros = Math.round(zf * total);
        traces.push({type: "scatter", mode: "markers", name: `${run.name} · exact zeros`, legendgroup: String(run.id),
          showlegend: false, x: [0], y: [Math.max(zeros, log ? 0.5 : 0)],
          marker: {symbol: "diamond", size: 9, color: run.color, line: {width: 1, color: "#000"}},
          hovertemplate: `${run.name}: ${zeros.toLocaleString("en")} weights exactly 0 (${(100 * zf).toPrecision(3)} %)<extra></extra>`});
      }
    }
    for (const run of missing) {  // in the legend, undrawn
      traces.push({type: "scatter", mode: "lines", name: `${run.name} · not yet at epoch ${n}`, x: [null], y: [null],
        legendgroup: String(run.id), line: {color: run.color, dash: "dot"}, hoverinfo: "skip", showlegend: true});
    }
    const xrange = centralRange(ranges, shared, 0.999);
    const epochs = [...new Set(hs.map(([, , e]) => e))];
    const at = this.scrubbing ? `at epoch ${n}` : epochs.length === 1 ? `at epoch ${epochs[0]}` : "at each run's latest epoch";
    const title = `Weights of ${layer} ${at}${missing.length ? ` (${missing.length} not yet)` : ""}${shared ? ", shared bins" : ""}`;
    this.react(id, traces, this.layout(title, "count", {
      // A new epoch or scale fits the range again; a live redraw keeps the user's zoom.
      uirevision: `${n}|${log}`,
      xaxis: {title: {text: "weight value (double-click: all)"}, range: xrange, zeroline: false},
      yaxis: log ? {title: {text: "count (log)"}, type: "log", range: [Math.log10(0.8), Math.log10(ymax * 1.6)]}
                 : {title: {text: "count"}, rangemode: "tozero"}}));
  },
};

// ---- the verdict table (templates/_verdict.html) ----
const VERDICT_COLUMNS = [  // [field, fraction?]: fractions print as "87.6 %", differences in points
  ["final_val_acc", true], ["best_val_acc", true], ["final_gap", true],
  ["final_mean_abs", false], ["final_near_zero_frac", true], ["dead_units", true]];

function signed(d, text) { return (d < 0 ? "−" : "+") + text; }

function fmtValue(v, fraction) {
  if (v === null || v === undefined) return "–";
  return fraction ? `${(100 * v).toFixed(1)} %` : String(Number(v.toPrecision(3)));
}

function fmtDiff(d, fraction) {
  if (d === null || d === undefined) return "";
  return fraction ? signed(d, `${Math.abs(100 * d).toFixed(1)} pts`) : signed(d, String(Number(Math.abs(d).toPrecision(2))));
}

function drawVerdict(summary, runs) {
  const body = document.getElementById("verdict-rows");
  if (!body || !summary.arms.length) return;
  const ref = summary.arms.find((a) => a.run_id === summary.reference);
  document.getElementById("verdict-ref").textContent = ref ? `(${ref.name})` : "";
  // Built as nodes, never as HTML: arm names are the user's text.
  const rows = summary.arms.map((arm) => {
    const tr = document.createElement("tr");
    tr.dataset.run = arm.run_id;
    if (arm.run_id === summary.reference) tr.className = "reference";
    const name = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = runs.get(arm.run_id)?.color || "";
    name.append(swatch, " ", arm.name);
    const epochs = document.createElement("td");
    epochs.className = "num";
    epochs.textContent = arm.status === "succeeded" ? String(arm.epochs_done) : `${arm.epochs_done} (${arm.status})`;
    tr.append(name, epochs);
    for (const [key, fraction] of VERDICT_COLUMNS) {
      const td = document.createElement("td");
      td.className = "num";
      td.dataset.col = key;
      let text = fmtValue(arm[key], fraction);
      if (key === "best_val_acc" && arm.best_epoch) text += ` (ep. ${arm.best_epoch})`;
      // Every arm that ties with the best is marked: the API names one of them.
      const best = summary.arms.find((a) => a.run_id === summary.best[key]);
      if (best && arm[key] === best[key] && summary.arms.length > 1) { td.classList.add("best"); text = "★ " + text; }
      td.append(text);
      if (arm.run_id !== summary.reference && arm.vs_reference[key] !== null) {
        const diff = document.createElement("span");
        diff.className = "diff";
        diff.textContent = fmtDiff(arm.vs_reference[key], fraction);
        td.append(diff);
      }
      tr.append(td);
    }
    return tr;
  });
  body.replaceChildren(...rows);
}

function lineMode(points) {  // markers help read a few epochs; past that they cost seconds to draw
  return points > 40 ? "lines" : "lines+markers";
}

function metricsFromColumns(c) {  // {epoch: [...], f: [...], layers: {l: {s: [...]}}} -> rows
  const rows = [];
  c.epoch.forEach((epoch, i) => {
    const m = {epoch, layers: {}};
    for (const [key, col] of Object.entries(c)) {
      if (key !== "layers" && key !== "run_id" && Array.isArray(col)) m[key] = col[i];
    }
    for (const [layer, stats] of Object.entries(c.layers)) {
      if (stats[Object.keys(stats)[0]][i] === null) continue;
      const s = {};
      for (const [stat, col] of Object.entries(stats)) s[stat] = col[i];
      m.layers[layer] = s;
    }
    rows[epoch - 1] = m;
  });
  return rows;
}

// The x-range holding the central `share` of the weights (each bin whole), from the cumulative
// counts: pooled over arms on shared bins, else the union of each arm's.
function centralRange(ranges, shared, share) {
  const groups = shared && ranges.length
    ? [[ranges[0][0], ranges[0][1].map((_, i) => ranges.reduce((s, [, c]) => s + c[i], 0))]] : ranges;
  let lo = Infinity, hi = -Infinity;
  for (const [edges, counts] of groups) {
    const total = counts.reduce((a, b) => a + b, 0);
    if (!total) continue;
    const cut = (total * (1 - share)) / 2;
    let i = 0, acc = counts[0];
    while (acc <= cut && i < counts.length - 1) acc += counts[++i];
    let j = counts.length - 1, bcc = counts[j];
    while (bcc <= cut && j > 0) bcc += counts[--j];
    lo = Math.min(lo, edges[i]); hi = Math.max(hi, edges[j + 1]);
  }
  if (!(hi > lo)) return undefined;
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

function coarsen(counts, level, toLevel) {  // mirrors store/bins.py
  for (let l = level; l < toLevel; l++) {
    const n = counts.length, inner = [];
    for (let j = 0; j < n / 2; j++) inner.push(counts[2 * j] + counts[2 * j + 1]);
    const pad = new Array(n / 4).fill(0);
    counts = [...pad, ...inner, ...pad];
  }
  return counts;
}

document.addEventListener("change", (ev) => {
  if (ev.target.id === "layer-stat" || ev.target.id === "extra-stat") {
    ViewState.set(ev.target.id === "layer-stat" ? "layer" : "extra", ev.target.value);
    Live.draw();
  }
});

// ---- charts: size, theme, toolbar ----
const CHART_HEIGHT = 340;
const TITLE_TOP = 46;  // px from the top: the title starts below the toolbar's row (~28 px)

function titleLines(title) { return wrapTitle(title).split("<br>").length; }

function wrapTitle(title) {  // at most ~7 px a character fit a chart's width; break at spaces
  const width = Math.min(window.innerWidth - 40, 560);
  const perLine = Math.max(24, Math.floor(width / 8));
  if (title.length <= perLine) return title;
  const lines = [""];
  for (const word of title.split(" ")) {
    const last = lines[lines.length - 1];
    if (last && (last + " " + word).length > perLine) lines.push(word);
    else lines[lines.length - 1] = last ? last + " " + word : word;
  }
  return lines.join("<br>");
}

function chartTheme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {bg: v("--chart-bg", "#ffffff"), fg: v("--fg", "#1d2330"), grid: v("--chart-grid", "#e5e8ee")};
}

function chartConfig(id) {
  const svg = {name: "Download as SVG", title: "Download as SVG", icon: Plotly.Icons.camera,
               click: (gd) => Plotly.downloadImage(gd, {format: "svg", filename: `reglab-${id}`})};
  return {displaylogo: false, responsive: true, toImageButtonOptions: {format: "png", filename: `reglab-${id}`},
          modeBarButtonsToAdd: [svg], modeBarButtonsToRemove: ["lasso2d", "select2d"]};
}

// ---- the view's state in the URL: a link reproduces the chosen arm and chart options ----
const ViewState = {
  get(key) { return new URLSearchParams(location.search).get(key); },
  set(key, value) {
    const params = new URLSearchParams(location.search);
    params.set(key, value);
    history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
  },
  unset(key) {
    const params = new URLSearchParams(location.search);
    params.delete(key);
    const q = params.toString();
    history.replaceState(history.state, "", `${location.pathname}${q ? "?" + q : ""}${location.hash}`);
  },
  restore() {
    for (const [key, id] of [["extra", "extra-stat"], ["layer", "layer-stat"]]) {
      const el = document.getElementById(id), value = this.get(key);
      if (el && value && [...el.options].some((o) => o.value === value)) el.value = value;
    }
  },
};

// ---- arms ticked for comparison, on any page, kept for the tab ----
const Picks = {
  key: "reglab-compare",
  load() { try { return JSON.parse(sessionStorage.getItem(this.key)) || []; } catch { return []; } },
  save(list) { sessionStorage.setItem(this.key, JSON.stringify(list)); this.show(); },
  toggle(id, label, on) {
    const list = this.load().filter((p) => p.id !== id);
    if (on) list.push({id, label});
    this.save(list);
  },
  show() {
    const list = this.load();
    document.querySelectorAll("input.compare-pick").forEach((box) => {
      box.checked = list.some((p) => p.id === Number(box.value));
    });
    const bar = document.getElementById("compare-bar");
    if (!bar) return;
    bar.hidden = list.length === 0 || location.pathname === "/compare";  // it is the comparison
    document.getElementById("compare-count").textContent =
      `${list.length} arm${list.length === 1 ? "" : "s"} ticked: ${list.map((p) => p.label).join(", ")}`;
    document.getElementById("compare-link").href = `/compare?runs=${list.map((p) => p.id).join(",")}`;
  },
};

document.addEventListener("change", (ev) => {
  const box = ev.target.closest("input.compare-pick");
  if (box) Picks.toggle(Number(box.value), box.dataset.label, box.checked);
});
// Swapped fragments (the list, run cards) come without ticks: give them back.
document.addEventListener("htmx:afterSwap", () => Picks.show());
document.addEventListener("htmx:sseMessage", () => Picks.show());

// ---- the experiment page's actions: annotate, run again, delete ----
async function api(method, url, body) {
  const r = await fetch(url, {method, headers: body ? {"content-type": "application/json"} : {},
                              body: body ? JSON.stringify(body) : undefined});
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  return {ok: r.ok, status: r.status, data};
}

function plainError(res) {  // the API's 422 detail, or its 404, in words
  const d = res.data && res.data.detail;
  if (Array.isArray(d)) return d.map((e) => `${e.loc[e.loc.length - 1]}: ${e.msg}`).join("; ");
  return d || `The server answered ${res.status}.`;
}

document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  const form = document.getElementById("annotate-form");
  if (action === "annotate" || action === "annotate-cancel") {
    form.hidden = action === "annotate-cancel" ? true : !form.hidden;
    document.querySelector('[data-action="annotate"]').setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) form.querySelector('[name="name"]').focus();
  } else if (action === "run-again") {
    button.disabled = true;
    const res = await api("POST", `/api/experiments/${button.dataset.experiment}/clone`);
    if (res.ok) location.href = `/experiments/${res.data.id}`;
    else { button.disabled = false; alert(plainError(res)); }
  } else if (action === "delete") {
    const name = document.getElementById("experiment-name").textContent;
    if (!confirm(`Delete "${name}" with all its arms, charts and checkpoints? Running arms stop. This cannot be undone.`)) return;
    const res = await api("DELETE", `/api/experiments/${button.dataset.experiment}`);
    if (res.ok || res.status === 404) {
      const ids = [...document.querySelectorAll(".card[id^='run-']")].map((c) => Number(c.id.slice(4)));
      Picks.save(Picks.load().filter((p) => !ids.includes(p.id)));
      location.href = "/#experiments";
    } else alert(plainError(res));
  } else if (action === "compare-clear") {
    Picks.save([]);
  }
});

document.addEventListener("submit", async (ev) => {
  if (ev.target.id !== "annotate-form") return;
  ev.preventDefault();
  const form = ev.target, error = document.getElementById("annotate-error");
  const tags = form.elements.namedItem("tags").value.split(/[\s,]+/).filter(Boolean);
  const res = await api("PATCH", `/api/experiments/${form.dataset.experiment}`,
                        {name: form.elements.namedItem("name").value, notes: form.elements.namedItem("notes").value, tags});
  if (!res.ok) {
    error.textContent = plainError(res);
    error.hidden = false;
    form.querySelector('[name="' + (res.data?.detail?.[0]?.loc?.[1] || "name") + '"]')?.focus();
    return;
  }
  error.hidden = true;
  form.hidden = true;
  const exp = res.data;
  document.getElementById("experiment-name").textContent = exp.name;
  document.title = `${exp.name} · reglab`;
  const notes = document.getElementById("experiment-notes");
  notes.textContent = exp.notes;
  notes.hidden = !exp.notes;
  const box = document.getElementById("experiment-tags");
  box.replaceChildren(...exp.tags.map((t) => {
    const a = document.createElement("a");
    a.className = "tag"; a.textContent = t; a.href = `/?tag=${encodeURIComponent(t)}#experiments`;
    return a;
  }));
});

// ---- the home list: filters reset the page; pager buttons ----
document.addEventListener("input", (ev) => {
  if (ev.target.closest("#experiment-filters") && ev.target.id !== "list-page") {
    document.getElementById("list-page").value = "1";
  }
});
document.addEventListener("click", (ev) => {
  const pager = ev.target.closest(".pager [data-page]");
  if (!pager) return;
  document.getElementById("list-page").value = pager.dataset.page;
  htmx.trigger("#experiment-filters", "submit");
});

// ---- the form: after a refused submit, focus goes to the first field that needs a change ----
document.addEventListener("htmx:afterSwap", (ev) => {
  if (ev.detail.target?.id !== "experiment-form" && ev.detail.elt?.id !== "experiment-form") return;
  const form = document.getElementById("experiment-form");
  const first = form && form.querySelector(".invalid input, .invalid select, .invalid textarea");
  if (first) {
    const more = first.closest("tr.arm-more");
    if (more) more.hidden = false;
    first.focus();
  }
});

// Heartbeat ages tick in the browser: the card is only re-sent when something changes.
function tickHeartbeats() {
  const now = Date.now();
  document.querySelectorAll(".hb-age[data-at]").forEach((el) => {
    const age = Math.max(0, (now - Date.parse(el.dataset.at)) / 1000);
    el.textContent = age < 1.5 ? "just now" : `${Math.round(age)} s ago`;
    el.classList.toggle("stale", age > 10);
  });
}
setInterval(tickHeartbeats, 1000);

document.addEventListener("DOMContentLoaded", () => { Live.init(); tickHeartbeats(); Picks.show(); });
