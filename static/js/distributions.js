// The distribution over epochs (as TensorBoard's distributions dashboard): per arm, one small
// chart of a weight matrix's percentile bands (min-max, 7-93, 16-84 %, and the median) against
// the epoch, computed on the server from the stored histograms (GET
// /api/experiments/{id}/distributions), with a marker at the epoch the scrubber shows.
// Experiment page only. State: live.dist.
import {layout, react} from "./plot.js";
import {shownEpoch} from "./scrubber.js";

const REFETCH_MS = 4000;  // while arms train: at most one request this often, not one per epoch

function state(live) {
  live.dist ??= {layer: null, data: null, key: null, inflight: false, timer: null};
  return live.dist;
}

// The tools (a layer picker) and the charts' box, once, after the histograms.
function init(live) {
  const hist = document.getElementById("histograms");
  if (!hist || document.getElementById("distributions")) return;
  const tools = document.createElement("div");
  tools.className = "chart-tools";
  tools.id = "dist-tools";
  tools.innerHTML = `<label for="dist-layer">Distribution over epochs of</label>
    <select id="dist-layer"></select><span class="hint">percentile bands: min–max, 7–93 %, 16–84 %, median</span>`;
  const box = document.createElement("div");
  box.id = "distributions";
  box.className = "distributions";
  hist.after(tools, box);
  document.getElementById("dist-layer").addEventListener("change", (e) => {
    const d = state(live);
    d.layer = e.target.value;
    d.key = null;
    load(live);
  });
}

async function load(live) {
  const d = state(live);
  const key = `${d.layer}|${[...live.runs.values()].map((r) => r.metrics.length).join(",")}`;
  if (d.inflight || d.key === key) return;
  d.inflight = true;
  try {
    const q = d.layer ? `?layer=${encodeURIComponent(d.layer)}` : "";
    const r = await fetch(`/api/experiments/${live.experimentId}/distributions${q}`);
    if (!r.ok) return;
    d.data = await r.json();
    d.layer = d.data.layer;
    d.key = key;
  } catch { /* the server went away for a moment: asked again at the next draw */ } finally {
    d.inflight = false;
  }
  draw(live);
}

export function drawDistributions(live) {
  if (!live.scrubbing || !document.getElementById("histograms")) return;
  init(live);
  const d = state(live);
  if (!d.timer) {  // new epochs: fetched again, at most every REFETCH_MS
    d.timer = setTimeout(() => { d.timer = null; load(live); }, d.data ? REFETCH_MS : 0);
  }
  if (d.data) draw(live);
}

function fill(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function draw(live) {
  const d = state(live), box = document.getElementById("distributions");
  if (!box || !d.data) return;
  const select = document.getElementById("dist-layer");
  if (select.options.length !== d.data.layers.length) {
    select.replaceChildren(...d.data.layers.map((l) => new Option(l, l)));
  }
  select.value = d.layer;
  const n = shownEpoch(live);
  const visible = new Set(live.visible().map((r) => r.id));
  for (const arm of d.data.runs) {
    const run = live.runs.get(arm.run_id);
    const id = `dist-${arm.run_id}`;
    let div = document.getElementById(id);
    if (!div) {
      div = document.createElement("div");
      div.className = "chart small"; div.id = id; box.appendChild(div);
    }
    div.hidden = !run || !visible.has(arm.run_id);
    if (div.hidden) continue;
    react(id, bands(run, arm), layout(`${run.name}: ${d.layer}`, "weight value", {
      height: 240, margin: {l: 55, r: 10, t: 60, b: 36}, showlegend: false,
      shapes: [{type: "line", xref: "x", yref: "paper", x0: n, x1: n, y0: 0, y1: 1,
                line: {color: "#888", width: 1, dash: "dot"}}],
    }, live.epochTick()));
  }
}

// Nested bands, each filled from its upper edge down to its lower one, and the median.
function bands(run, arm) {
  const col = (i) => arm.values.map((v) => v[i]);
  const x = arm.epochs, traces = [];
  const pairs = [[6, 0, 0.15, "min–max"], [5, 1, 0.25, "7–93 %"], [4, 2, 0.35, "16–84 %"]];
  for (const [hi, lo, alpha, name] of pairs) {
    traces.push({type: "scatter", mode: "lines", x, y: col(hi), line: {width: 0}, hoverinfo: "skip", name});
    traces.push({type: "scatter", mode: "lines", x, y: col(lo), line: {width: 0}, fill: "tonexty",
                 fillcolor: fill(run.color, alpha), name, hovertemplate: `${name}: %{y:.3g}<extra></extra>`});
  }
  traces.push({type: "scatter", mode: "lines", x, y: col(3), name: "median",
               line: {color: run.color, width: 1.6}, hovertemplate: "median %{y:.3g} at epoch %{x}<extra></extra>"});
  return traces;
}
