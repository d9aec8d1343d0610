// Weight histograms, one chart per layer, an outline per visible arm at the epoch the scrubber
// shows (experiment page) or at each run's latest epoch (compare page). Counts arrive on fixed
// bins (store/bins.py): an experiment's arms share them and are re-binned here to one level.
import {layout, react} from "./plot.js";
import {drawFunctions} from "./function.js";
import {initScrubber, shownEpoch, syncScrubber} from "./scrubber.js";
import {drawDistributions} from "./distributions.js";

// Coarsens counts from bin level `level` to `toLevel`; mirrors store/bins.py (a level doubles
// the range: each pair of bins merges, and the merged ones sit in the middle half).
export function coarsen(counts, level, toLevel) {
  for (let l = level; l < toLevel; l++) {
    const n = counts.length, inner = [];
    for (let j = 0; j < n / 2; j++) inner.push(counts[2 * j] + counts[2 * j + 1]);
    const pad = new Array(n / 4).fill(0);
    counts = [...pad, ...inner, ...pad];
  }
  return counts;
}

// A fine grid (store/bins.py: 80 * 2**f bins over the same range) as Map(k -> count) on the
// ladder of an experiment's layer, bin k holding k * width <= w < (k + 1) * width, at its own
// resolution (level - f) or, exactly, at a coarser one `to`; mirrors bins.fine_sparse.
export function fineSparse(level, fine, to) {
  const shift = to === undefined ? 0 : to - (level - fine.f);
  if (shift < 0) throw new Error(`resolution ${to} is finer than the histogram's`);
  const offset = 40 * 2 ** fine.f, out = new Map();
  for (const run of fine.runs) {
    for (let i = 1; i < run.length; i++) {
      if (!run[i]) continue;
      const k = Math.floor((run[0] - offset + i - 1) / 2 ** shift);
      out.set(k, (out.get(k) || 0) + run[i]);
    }
  }
  return out;
}

// Per arm [edges, counts] on common edges. An experiment's arms share the bins: on their fine
// grids, each re-binned to the coarsest arm's resolution (exact: the grids are one ladder), the
// bins from the lowest to the highest that hold weights; else (histograms stored before the fine
// grid) their 80 counts re-binned to the widest level. Arms of different experiments (the
// compare page) keep bins of their own.
export function commonBins(hists, shared) {
  if (shared && hists.every((h) => h.fine)) {
    const res = Math.max(...hists.map((h) => h.level - h.fine.f));
    const width = (hists[0].base * 2 ** res * 2) / 80;
    const maps = hists.map((h) => fineSparse(h.level, h.fine, res));
    const ks = maps.flatMap((m) => [...m.keys()]);
    const lo = Math.min(...ks), hi = Math.max(...ks);
    const edges = Array.from({length: hi - lo + 2}, (_, i) => (lo + i) * width);
    return maps.map((m) => [edges, Array.from({length: hi - lo + 1}, (_, i) => m.get(lo + i) || 0)]);
  }
  const level = Math.max(...hists.map((h) => h.level));
  return hists.map((h) => {
    const lv = shared ? level : h.level, bins = h.counts.length, r = h.base * 2 ** lv;
    const width = (2 * r) / bins;
    const edges = Array.from({length: bins + 1}, (_, i) => -r + i * width);
    return [edges, shared ? coarsen(h.counts, h.level, level) : h.counts];
  });
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

// One arm's histograms at epoch n: its layers, null where it has none there, undefined while
// unknown (then fetched: one request per epoch, cached, again only when arms have moved on).
function histAt(live, run, n) {
  if (run.histEpoch === n) return run.histograms;
  const c = live.hist.cache.get(n);
  return c && c.runs.has(run.id) ? c.runs.get(run.id) : undefined;
}

async function fetchEpoch(live, n) {
  const h = live.hist;
  const key = [...live.runs.values()].map((r) => r.metrics.length).join(",");
  const c = h.cache.get(n);
  if (h.inflight.has(n) || (c && c.key === key)) return;
  h.inflight.add(n);
  try {
    const r = await fetch(`${live.histogramsUrl}?epoch=${n}`);
    if (!r.ok) return;
    const runs = new Map();
    for (const a of (await r.json()).runs) runs.set(a.run_id, a.epoch === n ? a.layers : null);
    h.cache.set(n, {key, runs});
  } catch { /* the server went away for a moment: asked again at the next draw */ } finally {
    h.inflight.delete(n);
  }
  if (shownEpoch(live) === n) drawHistograms(live);
}

export function drawHistograms(live) {
  const box = document.getElementById("histograms");
  if (!box) return;
  // The scrubber moves the toy tasks' function views too (static/js/function.js).
  initScrubber(live, () => { drawHistograms(live); drawFunctions(live); });
  syncScrubber(live);
  drawDistributions(live);  // its epoch marker follows the scrubber
  const n = live.scrubbing ? shownEpoch(live) : null;
  // Per visible arm: its layers at the epoch shown, or null (not there yet).
  const arms = [];
  let waiting = false;
  for (const run of live.visible()) {
    if (!live.scrubbing) { arms.push([run, run.histEpoch ? run.histograms : null, run.histEpoch]); continue; }
    let hs = run.metrics.length >= n || run.histEpoch >= n ? histAt(live, run, n) : null;
    if (hs === undefined || (hs === null && run.metrics.length >= n)) {
      fetchEpoch(live, n);
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
    drawHistogram(live, id, layer, arms.filter(([, hs]) => hs && hs[layer]), missing, n);
  }
}

// Exact zeros are shown apart: taken out of the bin that starts at 0 (they are counted there) and
// drawn as a marker with their count, so an L1 spike does not flatten the rest.
function takeZeros(run, layer, epoch, edges, counts) {
  const zf = run.metrics[epoch - 1]?.layers?.[layer]?.zero_frac;
  if (!(zf > 0)) return [counts, 0, 0];
  const zeros = Math.round(zf * counts.reduce((a, b) => a + b, 0));
  const tiny = 1e-9 * (edges[edges.length - 1] - edges[0]);
  const z = edges.findIndex((e, i) => i < counts.length && Math.abs(e) <= tiny);
  if (z < 0) return [counts, zeros, zf];
  const out = counts.slice();
  out[z] = Math.max(0, out[z] - zeros);
  return [out, zeros, zf];
}

function zerosMarker(run, zeros, zf, log) {
  if (!(zf > 0)) return [];
  return [{type: "scatter", mode: "markers", name: `${run.name} · exact zeros`, legendgroup: String(run.id),
    showlegend: false, x: [0], y: [Math.max(zeros, log ? 0.5 : 0)],
    marker: {symbol: "diamond", size: 9, color: run.color, line: {width: 1, color: "#000"}},
    hovertemplate: `${run.name}: ${zeros.toLocaleString("en")} weights exactly 0 (${(100 * zf).toPrecision(3)} %)<extra></extra>`}];
}

function drawHistogram(live, id, layer, arms, missing, n) {
  const hs = arms.map(([run, layers, epoch]) => [run, layers[layer], epoch]);
  if (!hs.length) return;
  const shared = hs.every(([, h]) => h.base === hs[0][1].base && h.counts.length === hs[0][1].counts.length);
  const log = live.hist.log;
  const traces = [];
  const ranges = commonBins(hs.map(([, h]) => h), shared);  // [edges, counts] per arm
  let ymax = 1;
  hs.forEach(([run, , epoch], a) => {
    const [edges, all] = ranges[a], bins = all.length;
    const [counts, zeros, zf] = takeZeros(run, layer, epoch, edges, all);
    ymax = Math.max(ymax, ...counts, zeros);
    // A step outline over the bin edges, closed to 0 at both ends; on a log axis an empty bin
    // drops below the axis (0.5, under its start) instead of breaking the line.
    const ys = [0, ...counts, counts[bins - 1], 0];
    traces.push({type: "scatter", mode: "lines", name: `${run.name} · epoch ${epoch}`, legendgroup: String(run.id),
      x: [edges[0], ...edges, edges[bins]], y: log ? ys.map((c) => Math.max(c, 0.5)) : ys,
      customdata: ys, line: {color: run.color, shape: "hv", width: 1.6},
      hovertemplate: `${run.name}: %{customdata} weights from %{x:.3g}<extra></extra>`});
    traces.push(...zerosMarker(run, zeros, zf, log));
  });
  for (const run of missing) {  // in the legend, undrawn
    traces.push({type: "scatter", mode: "lines", name: `${run.name} · not yet at epoch ${n}`, x: [null], y: [null],
      legendgroup: String(run.id), line: {color: run.color, dash: "dot"}, hoverinfo: "skip", showlegend: true});
  }
  const xrange = centralRange(ranges, shared, 0.999);
  const epochs = [...new Set(hs.map(([, , e]) => e))];
  const at = live.scrubbing ? `at epoch ${n}` : epochs.length === 1 ? `at epoch ${epochs[0]}` : "at each run's latest epoch";
  const title = `Weights of ${layer} ${at}${missing.length ? ` (${missing.length} not yet)` : ""}${shared ? ", shared bins" : ""}`;
  react(id, traces, layout(title, "count", {
    // A new epoch or scale fits the range again; a live redraw keeps the user's zoom.
    uirevision: `${n}|${log}`,
    xaxis: {title: {text: "weight value (double-click: all)"}, range: xrange, zeroline: false},
    yaxis: log ? {title: {text: "count (log)"}, type: "log", range: [Math.log10(0.8), Math.log10(ymax * 1.6)]}
               : {title: {text: "count"}, rangemode: "tozero"}}, live.epochTick()));
}
