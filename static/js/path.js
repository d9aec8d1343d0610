// A sweep's regularization path: each arm's latest epoch against the swept value (log axis for
// lambdas, linear for dropout p), the zero arm as a dotted reference line, the best arm starred.
// Clicking a point picks its arm for the curves and histograms below.
import {byArm, interval} from "./bands.js";
import {layout, react} from "./plot.js";

const PATH_CHARTS = ["path-acc", "path-loss", "path-gap", "path-weights", "path-sparsity"];

// The traces' builders for the arms' points `pts` ([run, latest metrics] sorted by value).
function pathTraces(pts, zm) {
  const xs = pts.map(([run]) => run.value);
  const series = (key, name, color, dash, pick = (m) => m[key]) => ({
    x: xs, y: pts.map(([, m]) => pick(m)), name, type: "scatter", mode: "lines+markers",
    line: {color, dash}, customdata: pts.map(([run]) => run.id), text: pts.map(([run]) => run.name),
    hovertemplate: "%{text}: %{y:.4g}<extra>" + name + "</extra>",
    // With repeats: each point is the mean over seeds, its bar the 95 % interval.
    ...(pts.some(([, m]) => m.err?.[key] !== undefined) ? {error_y: {type: "data", visible: true,
      array: pts.map(([, m]) => m.err?.[key] ?? 0), color}} : {})});
  const refLine = (key, name, color, pick = (m) => m[key]) => zm && xs.length ? [{
    x: [xs[0], xs[xs.length - 1]], y: [pick(zm), pick(zm)], name: `${name} at 0`, type: "scatter",
    mode: "lines", line: {color, dash: "dot", width: 1}, hoverinfo: "name+y"}] : [];
  return {series, refLine};
}

// What the path's first and third charts show: accuracy, or R² for a regression task (MSE).
function scoreFields(live) {
  const r2Gap = (m) => (m.train_r2 == null || m.val_r2 == null ? null : m.train_r2 - m.val_r2);
  return live.regression
    ? {val: "val_r2", train: "train_r2", gap: r2Gap, name: "R²", loss: "mean squared error", percent: false}
    : {val: "val_acc", train: "train_acc", gap: (m) => m.gap, name: "accuracy", loss: "cross-entropy", percent: true};
}

function drawPathCharts(live, pts, zm, best) {
  const {series, refLine} = pathTraces(pts, zm);
  const f = scoreFields(live);
  const isLog = live.sweep.param !== "dropout";
  const xaxis = {title: {text: live.sweepLabel || "swept value"}, type: isLog ? "log" : "linear"};
  const at = (title, ytitle, extra) => layout(title, ytitle, extra, live.epochTick());
  const bestMark = best ? pts.filter(([run]) => run.id === best.id).map(([run, m]) => ({
    x: [run.value], y: [m[f.val]], name: `best: ${run.name}`, type: "scatter", mode: "markers",
    marker: {symbol: "star", size: 16, color: "#d4a017"}, hoverinfo: "name+y"})) : [];
  react("path-acc", [series(f.val, "validation", "#1f77b4", "solid"),
    series(f.train, "training", "#1f77b4", "dash"), ...refLine(f.val, "validation", "#1f77b4"),
    ...bestMark, ...oneSEMark(live, pts)], at(`${live.regression ? "R²" : "Accuracy"} against the swept value`, f.name, {xaxis, percent: f.percent}));
  react("path-loss", [series("val_loss", "validation", "#d62728", "solid"),
    series("train_loss", "training (data term)", "#d62728", "dash"),
    ...refLine("val_loss", "validation", "#d62728")],
    at("Loss against the swept value", f.loss, {xaxis}));
  react("path-gap", [series("", "gap", "#2ca02c", "solid", f.gap), ...refLine("", "gap", "#2ca02c", f.gap)],
    at("Generalization gap against the swept value", `train − validation ${f.name}`, {xaxis, percent: f.percent}));
  const layers = live.weightLayers();
  const dashes = ["solid", "dot", "dash", "dashdot"];
  react("path-weights", layers.map((layer, i) => series("", layer.replace(".weight", ""),
    "#9467bd", dashes[i % 4], (m) => m.layers[layer]?.mean_abs)),
    at("Mean |w| per weight matrix (the coefficient path)", "mean |w|", {xaxis}));
  react("path-sparsity", layers.flatMap((layer, i) => [
    series("", `${layer.replace(".weight", "")} exact zeros`, "#ff7f0e", dashes[i % 4],
           (m) => m.layers[layer]?.zero_frac),
    series("", `${layer.replace(".weight", "")} |w| < 1e-3`, "#8c564b", dashes[i % 4],
           (m) => m.layers[layer]?.near_zero_frac)]),
    at("Sparsity against the swept value", "fraction of weights", {xaxis, percent: true}));
}

function listenForPicks(live) {  // once per chart: a clicked point pins its arm
  for (const id of PATH_CHARTS) {
    const el = document.getElementById(id);
    if (el && !el.__clicks) {
      el.__clicks = true;
      el.on("plotly_click", (ev) => {
        const runId = ev.points[0]?.customdata;
        if (!runId) return;
        live.pinned = runId;
        document.getElementById("sweep-arm").value = String(runId);
        document.getElementById(`run-${runId}`)?.scrollIntoView({behavior: "smooth", block: "nearest"});
        live.draw();
      });
    }
  }
}

function oneSENote(live) {
  const rule = live.repeats ? live.summary?.one_se : null;
  if (!rule || rule.best_se === null) return "";
  return ` The one-standard-error rule picks ${live.sweepLabel || "the value"} = ${rule.chosen} (◇): the largest within one SE of the best mean.`;
}

function showBest(live, best) {  // the arm picker's default, the note and the checkpoint link
  const pick = document.getElementById("sweep-arm");
  if (pick && live.pinned === null && best) pick.value = String(best.id);
  const link = document.getElementById("best-download");
  const bestRun = best && live.runs.get(best.id);
  const url = best && document.querySelector(`#run-${best.id} a.download`)?.getAttribute("href");
  document.getElementById("best-arm").textContent = bestRun
    ? `Best so far: ${bestRun.name}, ${live.repeats ? "mean " : ""}validation ${live.regression ? "R²" : "accuracy"} ${live.score(best.m).toFixed(4)} (epoch ${best.m.epoch}).${oneSENote(live)}`
    : "The best arm is marked ★ once arms have finished epochs.";
  if (link) { link.hidden = !url; if (url) link.href = url; }
}

// The one-standard-error rule (the summary's one_se): the largest value whose mean validation
// accuracy is within one standard error of the best mean: the simplest adequate model.
function oneSEMark(live, pts) {
  const rule = live.repeats ? live.summary?.one_se : null;
  const pt = rule && pts.find(([run]) => run.value === rule.chosen);
  if (!pt) return [];
  return [{x: [pt[0].value], y: [pt[1].val_acc], name: `one-SE rule: ${pt[0].name}`, type: "scatter",
           mode: "markers", marker: {symbol: "diamond-open", size: 18, color: "#2ca02c", line: {width: 2}},
           hoverinfo: "name+y"}];
}

// With repeats: per arm the mean of its repeats' latest metrics, and the 95 % half-widths.
function meanMetrics(runs, live) {
  const latest = runs.map((r) => live.latest(r)).filter(Boolean);
  if (!latest.length) return null;
  const m = {err: {}, layers: {}};
  for (const key of ["val_acc", "train_acc", "val_loss", "train_loss", "gap"]) {
    const iv = interval(latest.map((x) => x[key]));
    m[key] = iv.mean;
    if (iv.low !== null) m.err[key] = (iv.high - iv.low) / 2;
  }
  for (const layer of Object.keys(latest[0].layers)) {
    m.layers[layer] = {};
    for (const stat of ["mean_abs", "zero_frac", "near_zero_frac"])
      m.layers[layer][stat] = interval(latest.map((x) => x.layers[layer]?.[stat] ?? 0)).mean;
  }
  m.epoch = Math.min(...latest.map((x) => x.epoch));
  return m;
}

function armPoints(live) {
  if (!live.repeats) return [...live.runs.values()].map((run) => [run, live.latest(run)]);
  return byArm([...live.runs.values()]).map(([first, runs]) => [first, meanMetrics(runs, live)]);
}

export function drawPath(live) {
  const isLog = live.sweep.param !== "dropout";
  const all = armPoints(live);
  const pts = all.filter(([run, m]) => m && (run.value > 0 || !isLog)).sort((a, b) => a[0].value - b[0].value);
  const zero = all.find(([r]) => r.value === 0);
  const zm = zero && isLog ? zero[1] : null;
  const ranked = all.filter(([, m]) => m).sort((a, b) => b[1].val_acc - a[1].val_acc);
  const best = live.repeats ? (ranked.length ? {id: ranked[0][0].id, m: ranked[0][1]} : null) : live.best();
  drawPathCharts(live, pts, zm, best);
  listenForPicks(live);
  showBest(live, best);
}
