// The per-epoch charts: loss, accuracy, gap, a chosen extra (penalty, speed, time, lr), a
// per-layer statistic, and exact zeros; one line per visible arm (per weight matrix for layers).
import {bandLines} from "./bands.js";
import {layout, lineMode, react} from "./plot.js";

// R² gap of a regression task's epoch (its `gap`, an accuracy gap, is null there).
const r2Gap = (m) => (m.train_r2 == null || m.val_r2 == null ? null : m.train_r2 - m.val_r2);

function lines(live, field, label, dash) {  // field: a metric's name, or a function of the epoch's metrics
  const get = typeof field === "function" ? field : (m) => m[field];
  if (live.repeats) return bandLines(live, field, label, dash, live.showRepeats);  // mean and band per arm
  const traces = [];
  for (const run of live.visible()) {
    const ms = run.metrics.filter(Boolean);
    traces.push({x: ms.map((m) => m.epoch), y: ms.map(get), name: label ? `${run.name} ${label}` : run.name,
                 legendgroup: String(run.id), mode: lineMode(ms.length), type: "scatter",
                 line: {color: run.color, dash: dash || "solid"}, marker: {size: 5}});
    const old = run.superseded || [];  // reported before a resume, not yet trained again
    if (old.length) traces.push({x: old.map((m) => m.epoch), y: old.map(get),
                 name: `${label ? `${run.name} ${label}` : run.name} (being retrained)`, legendgroup: String(run.id),
                 showlegend: false, mode: "lines+markers", type: "scatter", opacity: 0.3,
                 line: {color: run.color, dash: dash || "solid"}, marker: {size: 5}});
  }
  return traces;
}

// One line per arm and weight matrix; the dash tells the layer. `pick` reads a layer's figure at an
// epoch (default: layers[layer][stat]), undefined where it has none.
function layerLines(live, stat, layers, pick = (m, layer) => m.layers[layer]?.[stat]) {
  const dashes = ["solid", "dot", "dash", "dashdot", "longdash"];
  const traces = [];
  (layers || live.weightLayers()).forEach((layer, li) => {
    for (const run of live.visible()) {
      const ms = run.metrics.filter((m) => m && pick(m, layer) !== undefined);
      traces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => pick(m, layer)),
                   name: `${run.name} ${layer.replace(".weight", "")}`, legendgroup: String(run.id),
                   type: "scatter", mode: lineMode(ms.length), marker: {size: 5},
                   line: {color: run.color, dash: dashes[li % dashes.length]}});
    }
  });
  return traces;
}

function chosen(id, fallbackValue, fallbackLabel) {  // a <select>'s value and its option's text
  const select = document.getElementById(id);
  return select ? [select.value, select.options[select.selectedIndex].text] : [fallbackValue, fallbackLabel];
}

// Regression tasks (MSE) chart R² where classification charts accuracy, and never an accuracy.
function scoreCharts(live, at) {
  if (live.regression) return [
    () => react("chart-acc", [...lines(live, "train_r2", "train"), ...lines(live, "val_r2", "val", "dash")],
                at("R² (solid train, dashed validation)", "R²")),
    () => react("chart-gap", lines(live, r2Gap, "gap"), at("Generalization gap (train − validation R²)", "R² gap")),
  ];
  return [
    () => react("chart-acc", [...lines(live, "train_acc", "train"), ...lines(live, "val_acc", "val", "dash")],
                at("Accuracy (solid train, dashed validation)", "accuracy", {percent: true})),
    () => react("chart-gap", lines(live, "gap", "gap"),
                at("Generalization gap (train − validation accuracy)", "gap", {percent: true})),
  ];
}

// One function per chart, the loss first (live.draw() runs them one task each).
export function curveSteps(live) {
  const at = (title, ytitle, extra) => layout(title, ytitle, extra, live.epochTick());
  return [
    () => react("chart-loss", [...lines(live, "train_loss", "train"), ...lines(live, "val_loss", "val", "dash")],
                at("Loss (data term; solid train, dashed validation)", live.regression ? "mean squared error" : "cross-entropy")),
    ...scoreCharts(live, at),
    () => {
      const [extraKey, extraLabel] = chosen("extra-stat", "penalty", "penalty term in the loss");
      react("chart-extra", lines(live, extraKey, ""), at(extraLabel, extraKey));
    },
    () => {
      const [stat, label] = chosen("layer-stat", "mean_abs", "mean |w|");
      const percent = ["near_zero_frac", "sign_flip_frac", "dead_units"].includes(stat);
      react("chart-weights", layerStatLines(live, stat),
            at(`${label} per ${stat === "dead_units" ? "hidden layer" : stat === "bn_gamma" ? "batch norm layer"
               : "weight matrix"} (solid: first layer)`, label, {percent}));
    },
    () => react("chart-sparsity", layerLines(live, "zero_frac"),
                at("Exact zeros (fraction of weights = 0)", "fraction",
                   {yaxis: {title: {text: "fraction"}, rangemode: "tozero"}, percent: true})),
  ];
}

// The per-layer picker's figures kept outside layers[weight matrix]: dead units (per epoch, per
// hidden layer) and batch norm's mean |gamma| (layers["bn_i.weight"].mean_abs).
function layerStatLines(live, stat) {
  const names = new Set();
  for (const run of live.runs.values()) for (const m of run.metrics) if (m) {
    if (stat === "dead_units") Object.keys(m.dead_units || {}).forEach((k) => names.add(k));
    if (stat === "bn_gamma") Object.keys(m.layers).filter((k) => /(^|\.)bn_.*\.weight$/.test(k)).forEach((k) => names.add(k));
  }
  if (stat === "bn_gamma") return layerLines(live, "mean_abs", [...names].sort());
  if (stat !== "dead_units") return layerLines(live, stat);
  return layerLines(live, stat, [...names].sort(), (m, layer) => m.dead_units?.[layer]);
}
