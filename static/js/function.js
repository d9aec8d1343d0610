// The fitted function of each arm, for the toy tasks (templates/experiment.html's #functions):
// poly1d's curves over the data points, the 2-D tasks' decision boundaries side by side, and
// sparse_linear's coefficients against the true ones with their support recovery (and, in a
// sweep over an L1 lambda, the lasso path). Drawn at the epoch the scrubber shows (an arm not
// there yet: at its latest), from /api/runs/{id}/function?epoch=N: answers are cached per arm and
// epoch, and requests coalesced to at most one per arm per animation frame.
import {layout, react} from "./plot.js";
import {shownEpoch} from "./scrubber.js";

const CACHE_SIZE = 400;  // arm-epochs kept (a 64x64 grid is ~40 kB of JSON)
const L1_SWEEPS = new Set(["l1", "prox_l1"]);

// The state of the view: answers by "run:epoch:train_loss" (a retrained epoch is a new key),
// the arms whose request is in flight, the newest epoch wanted per arm, and the frame's timer.
function state(live) {
  if (!live.fn) live.fn = {cache: new Map(), inflight: new Set(), wanted: new Map(), frame: null};
  return live.fn;
}

function keyOf(run, epoch) {
  return `${run.id}:${epoch}:${run.metrics[epoch - 1]?.train_loss}`;
}

// The epoch drawn for an arm: the one shown, or its latest when it is not there yet (0: none).
function epochFor(live, run) {
  const n = live.scrubbing ? shownEpoch(live) : run.metrics.length;
  return Math.min(n, run.metrics.length);
}

function want(live, run, epoch) {
  const fn = state(live);
  fn.wanted.set(run.id, {run, epoch});
  if (fn.frame === null) fn.frame = requestAnimationFrame(() => flush(live));
}

function flush(live) {  // one request per arm per frame: the newest epoch it was wanted at
  const fn = state(live);
  fn.frame = null;
  for (const [id, {run, epoch}] of fn.wanted) {
    if (fn.inflight.has(id)) continue;  // asked again when its answer arrives
    fn.wanted.delete(id);
    if (!fn.cache.has(keyOf(run, epoch))) fetchFunction(live, run, epoch);
  }
}

async function fetchFunction(live, run, epoch) {
  const fn = state(live);
  const key = keyOf(run, epoch);
  fn.inflight.add(run.id);
  try {
    const r = await fetch(`/api/runs/${run.id}/function?epoch=${epoch}`);
    if (r.ok) {
      fn.cache.set(key, await r.json());
      if (fn.cache.size > CACHE_SIZE) fn.cache.delete(fn.cache.keys().next().value);
    }
  } catch { /* offline for a moment: asked again at the next draw */ } finally {
    fn.inflight.delete(run.id);
  }
  if (fn.wanted.size && fn.frame === null) fn.frame = requestAnimationFrame(() => flush(live));
  if (!fn.redraw) fn.redraw = requestAnimationFrame(() => { fn.redraw = null; drawFunctions(live); });
}

// Per arm [run, epoch, answer or undefined]; missing answers are asked for.
function answers(live, runs) {
  const fn = state(live);
  return runs.map((run) => {
    const epoch = epochFor(live, run);
    if (epoch < 1) return [run, 0, undefined];
    const data = fn.cache.get(keyOf(run, epoch));
    if (data === undefined) want(live, run, epoch);
    // The answer's epoch: the latest one with a stored view at or before the one asked for.
    return [run, data?.epoch ?? epoch, data];
  });
}

function chartDiv(box, id) {
  let div = document.getElementById(id);
  if (!div) {
    div = document.createElement("div");
    div.className = "chart";
    div.id = id;
    box.append(div);
  }
  return div;
}

function epochText(live, arms) {
  const epochs = [...new Set(arms.filter(([, e]) => e).map(([, e]) => e))];
  return epochs.length === 1 ? `at epoch ${epochs[0]}` : epochs.length ? "at each arm's latest epoch" : "";
}

// ---- poly1d: one chart, the data points and each arm's curve ----

// The data points of "train" or "val" as {x0, x1, y} columns (x0 alone in 1-D), whether the
// answer holds columns ({x, y} or {x0, x1, y}) or rows of inputs ({x: [[x0, x1], ...], y}).
function points(data, part) {
  const p = data?.points?.[part] || data?.points?.[part === "val" ? "validation" : "training"];
  if (!p) return null;
  const xs = p.x0 ? null : p.x || p.X || [];
  const col = (k) => (xs ? xs.map((v) => (Array.isArray(v) ? v[k] : k ? undefined : v)) : p[`x${k}`]);
  return {x0: col(0), x1: col(1), y: (p.y || []).map((v) => (Array.isArray(v) ? v[0] : v))};
}

function drawCurves(live, box) {
  const arms = answers(live, live.visible());
  const first = arms.find(([, , d]) => d)?.[2];
  const traces = [];
  for (const [part, symbol, opacity] of [["train", "circle", 0.9], ["val", "circle-open", 0.45]]) {
    const p = points(first, part);
    if (p) traces.push({type: "scatter", mode: "markers", x: p.x0, y: p.y, name: `${part === "train" ? "training" : "validation"} points`,
                        marker: {symbol, size: part === "train" ? 8 : 5, color: "#444"}, opacity});
  }
  for (const [run, epoch, d] of arms) {
    if (!d) continue;
    traces.push({type: "scatter", mode: "lines", x: d.x, y: d.y, name: `${run.name} · epoch ${epoch}`,
                 legendgroup: String(run.id), line: {color: run.color, width: 2}});
  }
  chartDiv(box, "fn-curve").classList.add("wide");
  react("fn-curve", traces, layout(`Fitted curves ${epochText(live, arms)}`, "y",
                                   {xaxis: {title: {text: "x"}, tickformat: ""}, uirevision: "curve"}));
}

// ---- moons, circles, spiral: each arm's class-1 probability over the grid, side by side ----

// P(class 1) as a colour: blue (0) through white (0.5) to red (1).
function shade(p) {
  const t = Math.max(0, Math.min(1, p));
  const [a, b] = t < 0.5 ? [[59, 110, 204], [247, 247, 247]] : [[247, 247, 247], [204, 60, 50]];
  const u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  return a.map((c, i) => Math.round(c + (b[i] - c) * u));
}

// The grid as an image (a data: URL, which the page's CSP allows): prob[i][j] at (x0[j], x1[i]).
function gridImage(grid, prob) {
  const rows = prob.length, cols = prob[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = cols; canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const [r, g, b] = shade(prob[i][j]);
      const o = ((rows - 1 - i) * cols + j) * 4;  // the image's first row is the grid's top (largest x1)
      img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = b; img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  const [x0, x1] = [grid.x0, grid.x1];
  const dx = (x0[x0.length - 1] - x0[0]) / Math.max(1, x0.length - 1) / 2;
  const dy = (x1[x1.length - 1] - x1[0]) / Math.max(1, x1.length - 1) / 2;
  return {source: canvas.toDataURL(), xref: "x", yref: "y", x: x0[0] - dx, y: x1[x1.length - 1] + dy,
          sizex: x0[x0.length - 1] - x0[0] + 2 * dx, sizey: x1[x1.length - 1] - x1[0] + 2 * dy,
          sizing: "stretch", layer: "below", xanchor: "left", yanchor: "top"};
}

function classTraces(data) {  // training points filled, validation points hollow; colour: class
  const traces = [];
  for (const [part, symbol, size] of [["train", "circle", 6], ["val", "circle-open", 5]]) {
    const p = points(data, part);
    if (!p) continue;
    for (const cls of [0, 1]) {
      const idx = p.y.map((y, i) => [y, i]).filter(([y]) => Number(y) === cls).map(([, i]) => i);
      traces.push({type: "scatter", mode: "markers", x: idx.map((i) => p.x0[i]), y: idx.map((i) => p.x1[i]),
                   name: `${part === "train" ? "training" : "validation"}, class ${cls}`, showlegend: false,
                   hovertemplate: `${part}, class ${cls}<extra></extra>`,
                   marker: {symbol, size, color: cls ? "#8c1d18" : "#17378a", line: {width: 1, color: "#fff"}}});
    }
  }
  return traces;
}

function drawBoundaries(live, box) {
  const arms = answers(live, live.visible());
  const ids = new Set();
  for (const [run, epoch, d] of arms) {
    const id = `fn-boundary-${run.id}`;
    ids.add(id);
    const div = chartDiv(box, id);
    div.classList.add("small");
    if (!d || !d.grid) continue;
    const x0 = d.grid.x0, x1 = d.grid.x1;
    // Equal units on both axes; the plot shrinks to fit the grid (never wider ranges around it).
    const axis = (v, t) => ({title: {text: t}, range: [v[0], v[v.length - 1]], zeroline: false, tickformat: "",
                             showgrid: false, constrain: "domain"});
    react(id, classTraces(d), layout(`${run.name} · epoch ${epoch}`, "x₁", {
      images: [gridImage(d.grid, d.prob)], xaxis: axis(x0, "x₀"), yaxis: {...axis(x1, "x₁"), scaleanchor: "x"},
      showlegend: false, uirevision: "boundary", height: 340}));
    div.style.borderTop = `4px solid ${run.color}`;
  }
  box.querySelectorAll("[id^='fn-boundary-']").forEach((el) => { if (!ids.has(el.id)) el.remove(); });
}

// ---- sparse_linear: coefficients against the true ones, support recovery, the lasso path ----

// A coefficient counts as kept when |c| reaches the answer's threshold, else 1 % of the largest
// true one (training leaves unpenalized ones small but not exactly 0; proximal L1 makes zeros).
function threshold(d, trueCoef) {
  return d.threshold ?? 0.01 * Math.max(...trueCoef.map(Math.abs), 1e-12);
}

function support(coef, trueCoef, tol) {
  const chosen = coef.map((c) => Math.abs(c) > tol);
  const truth = trueCoef.map((c) => c !== 0);
  const hits = chosen.filter((c, i) => c && truth[i]).length;
  const picked = chosen.filter(Boolean).length, real = truth.filter(Boolean).length;
  return {picked, precision: picked ? hits / picked : null, recall: real ? hits / real : null};
}

function flat(c) { return Array.isArray(c[0]) ? c[0] : c; }  // one output: [[...]] or [...]

function drawCoefficients(live, box) {
  const arms = answers(live, live.visible());
  const first = arms.find(([, , d]) => d)?.[2];
  if (!first) return;
  const truth = flat(first.true_coef);
  const idx = truth.map((_, j) => j + 1);
  const traces = [{type: "bar", x: idx, y: truth, name: "true coefficients", marker: {color: "rgba(120,120,120,0.45)"}}];
  for (const [run, epoch, d] of arms) {
    if (!d) continue;
    traces.push({type: "scatter", mode: "markers", x: idx, y: flat(d.coef), name: `${run.name} · epoch ${epoch}`,
                 legendgroup: String(run.id), marker: {color: run.color, size: 7}});
  }
  chartDiv(box, "fn-coef").classList.add("wide");
  react("fn-coef", traces, layout(`Learned coefficients against the true ones ${epochText(live, arms)}`, "coefficient",
                                  {xaxis: {title: {text: "feature"}, tickformat: "d"}, uirevision: "coef", bargap: 0.3}));
  drawSupport(box, arms, truth);
}

function drawSupport(box, arms, truth) {  // a table: per arm, features chosen, precision, recall
  let table = document.getElementById("fn-support");
  if (!table) {
    table = document.createElement("table");
    table.id = "fn-support";
    table.className = "verdict support";
    table.innerHTML = "<caption>Support recovery: the features each arm keeps (|coefficient| > <span class='tol'></span>)</caption>"
      + "<thead><tr><th scope='col'>arm</th><th scope='col'>epoch</th><th scope='col'>features kept</th>"
      + "<th scope='col'>precision</th><th scope='col'>recall</th></tr></thead><tbody></tbody>";
    box.append(table);
  }
  const some = arms.find(([, , d]) => d);
  if (some) table.querySelector(".tol").textContent = String(Number(threshold(some[2], truth).toPrecision(3)));
  const pct = (v) => (v === null ? "–" : `${(100 * v).toFixed(0)} %`);
  const rows = arms.filter(([, , d]) => d).map(([run, epoch, d]) => {
    const s = support(flat(d.coef), truth, threshold(d, truth));
    if (d.precision !== undefined) Object.assign(s, {precision: d.precision, recall: d.recall});
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = run.color;
    name.append(swatch, " ", run.name);
    tr.append(name);
    for (const text of [String(epoch), `${s.picked} of ${truth.length} (true: ${truth.filter((c) => c !== 0).length})`, pct(s.precision), pct(s.recall)]) {
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
}

function drawLassoPath(live, box) {  // each coefficient against the swept lambda (log axis)
  const arms = answers(live, [...live.runs.values()].filter((r) => r.value > 0)).filter(([, , d]) => d)
    .sort((a, b) => a[0].value - b[0].value);
  if (!arms.length) return;
  const truth = flat(arms[0][2].true_coef);
  const xs = arms.map(([run]) => run.value);
  const traces = truth.map((t, j) => ({
    type: "scatter", mode: "lines+markers", x: xs, y: arms.map(([, , d]) => flat(d.coef)[j]),
    name: t !== 0 ? `feature ${j + 1} (true ${Number(t.toPrecision(3))})` : `feature ${j + 1}`,
    showlegend: t !== 0, line: {width: t !== 0 ? 2 : 1, color: t !== 0 ? undefined : "rgba(140,140,140,0.6)"},
    marker: {size: t !== 0 ? 5 : 3}}));
  chartDiv(box, "fn-lasso").classList.add("wide");
  react("fn-lasso", traces, layout(`Lasso path: each coefficient against ${live.sweepLabel || "λ"} ${epochText(live, arms)}`,
                                   "coefficient", {xaxis: {title: {text: live.sweepLabel || "λ"}, type: "log"}, uirevision: "lasso"}));
}

const VIEWS = {curve: drawCurves, boundary: drawBoundaries, coef: drawCoefficients};

export function drawFunctions(live) {
  const box = document.getElementById("functions");
  const view = box && VIEWS[box.dataset.view];
  if (!view) return;
  view(live, box);
  if (box.dataset.view === "coef" && live.sweep && L1_SWEEPS.has(live.sweep.param)) drawLassoPath(live, box);
}
