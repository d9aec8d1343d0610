// The live state of the experiment page (and the compare page): each arm's metrics and latest
// histograms, kept current by the htmx SSE connection's `epoch` events (JSON), and the redraws
// they schedule. Status cards arrive on the same connection as HTML fragments htmx swaps itself.
import {curveSteps} from "./charts.js";
import {tickHeartbeats} from "./heartbeats.js";
import {drawFunctions} from "./function.js";
import {drawHistograms} from "./histograms.js";
import {drawPath} from "./path.js";
import {PALETTE} from "./plot.js";
import {drawVerdict} from "./verdict.js";
import {drawWeights} from "./weights.js";
import {ViewState} from "./viewstate.js";

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

export const Live = {
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
    // A regression task (MSE) charts R² where accuracy would be, and never an accuracy.
    this.regression = data.task_kind === "regression";
    this.sweep = data.sweep;  // null unless the experiment is a sweep
    this.sweepLabel = data.sweep_label;
    this.pinned = null;  // the arm picked to show beside the zero arm (sweeps)
    this.loaded = false;  // until the curves arrive, stream events wait in `early`
    this.early = [];
    data.runs.forEach((r, i) => {
      // A colour per arm: its repeats (one run per seed) share it.
      const color = PALETTE[(r.arm ?? i) % PALETTE.length];
      this.runs.set(r.id, {id: r.id, name: r.name, value: r.value, arm: r.arm ?? i, seed: r.seed, color,
                           metrics: [], histograms: {}});
    });
    this.wireRepeats(data);
    this.paintSwatches();
    ViewState.restore();
    this.wireSweepPicker();
    // Dark mode follows the system while the page is open, charts included.
    window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", () => this.draw());
    document.body.addEventListener("htmx:sseOpen", (e) => this.attach(e.detail.source));
    // Cards are swapped in by htmx; give their colour swatches back.
    document.body.addEventListener("htmx:sseMessage", () => { this.paintSwatches(); this.refreshSummary(); });
    this.loadCurves();
    this.refreshSummary();
  },

  // Repeats: the per-epoch charts draw each arm's mean and band over seeds (charts.js, bands.js);
  // the weight views show one chosen seed; a toggle shows the repeats themselves faintly.
  wireRepeats(data) {
    this.repeats = (data.repeats || 1) > 1;
    this.showRepeats = false;
    this.seed = Math.min(...[...this.runs.values()].map((r) => r.seed ?? 0));
    const pick = document.getElementById("seed-pick");
    if (pick) pick.addEventListener("change", () => { this.seed = Number(pick.value); this.draw(); });
    const toggle = document.getElementById("show-repeats");
    if (toggle) toggle.addEventListener("change", () => { this.showRepeats = toggle.checked; this.draw(); });
  },

  wireSweepPicker() {  // the arm shown beside a sweep's zero arm: from the URL, then picked
    const pick = document.getElementById("sweep-arm");
    if (pick && ViewState.get("arm") && this.runs.has(Number(ViewState.get("arm")))) {
      pick.value = ViewState.get("arm");
      this.pinned = Number(pick.value);
    }
    if (pick) pick.addEventListener("change", () => {
      this.pinned = Number(pick.value);
      ViewState.set("arm", pick.value);
      this.draw();
    });
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
      .then((s) => {
        if (!s) return;
        this.summary = s;  // the path's error bars and one-SE mark read it
        drawVerdict(s, this.runs);
        if (this.sweep && this.repeats && this.loaded) drawPath(this);
      }).catch(() => {});
  },

  // The page carries no measurements (its size must not grow with the experiment): the curves
  // come by one compact request, histograms by another, for the epoch shown.
  async loadCurves() {
    const r = await fetch(this.curvesUrl).catch(() => null);  // null: the server went away
    if (!r || !r.ok) return;
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
    const r = await fetch(this.histogramsUrl).catch(() => null);  // null: the server went away
    if (!r || !r.ok) return;
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
    // on the charts, faded (charts.js draws them), until the retrained ones replace them.
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

  visible(allSeeds = false) {  // a sweep's curves show its zero arm and one chosen arm; other experiments, all
    let all = [...this.runs.values()];
    if (this.repeats && !allSeeds) all = all.filter((r) => r.seed === this.seed);  // one chosen repeat
    if (!this.sweep) return all;
    const chosen = this.runs.get(this.pinned ?? this.best()?.id) ?? all[all.length - 1];
    return all.filter((r) => r.value === 0 || r.arm === chosen?.arm);
  },

  latest(run) {
    const ms = run.metrics.filter(Boolean);
    return ms.length ? ms[ms.length - 1] : null;
  },

  score(m) {  // what "best" means: validation accuracy, or R² for a regression task
    return this.regression ? m.val_r2 : m.val_acc;
  },

  best() {
    let best = null;
    for (const run of this.runs.values()) {
      const m = this.latest(run);
      if (m && this.score(m) != null && (!best || this.score(m) > this.score(best.m))) best = {id: run.id, m};
    }
    return best;
  },

  epochTick() {  // the epoch axis's step: about 10 ticks (5 on a phone)
    let last = 1;
    for (const run of this.runs.values()) last = Math.max(last, run.metrics.length);
    return Math.max(1, Math.ceil(last / (window.innerWidth < 600 ? 5 : 10)));
  },

  weightLayers() {  // the weight matrices' names (batch norm's excepted), over every arm
    const names = new Set();
    for (const run of this.runs.values())
      for (const m of run.metrics) if (m) Object.keys(m.layers).forEach((k) => names.add(k));
    return [...names].filter((n) => n.endsWith(".weight") && !/(^|\.)bn_/.test(n)).sort();
  },

  // One chart per task, the loss first: the browser paints between them, so the first chart shows
  // as soon as it is drawn, and a newer draw() abandons what is left of an older one.
  draw() {
    const generation = (this.generation = (this.generation || 0) + 1);
    const steps = [() => drawFunctions(this), ...curveSteps(this), () => drawHistograms(this), () => { if (this.sweep) drawPath(this); },
                   () => drawWeights(this)];
    const started = performance.now();
    const next = () => {
      if (generation !== this.generation) return;
      steps.shift()();
      if (steps.length) setTimeout(next, 0);
      else this.nextDrawAt = performance.now() + (performance.now() - started);
    };
    next();
  },
};

// The charts' options (the extra chart, the per-layer statistic): kept in the URL, drawn at once.
export function wireChartOptions() {
  document.addEventListener("change", (ev) => {
    if (ev.target.id === "layer-stat" || ev.target.id === "extra-stat") {
      ViewState.set(ev.target.id === "layer-stat" ? "layer" : "extra", ev.target.value);
      Live.draw();
    }
  });
}
