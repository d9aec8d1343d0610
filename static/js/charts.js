// The per-epoch charts: loss, accuracy, gap, a chosen extra (penalty, speed, time, lr), a
// per-layer statistic, and exact zeros; one line per visible arm (per weight matrix for layers).
import {bandLines} from "./bands.js";
import {layout, lineMode, react} from "./plot.js";

function lines(live, field, label, dash) {
  if (live.repeats) return bandLines(live, field, label, dash, live.showRepeats);  // mean and band per arm
  const traces = [];
  for (const run of live.visible()) {
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
}

function layerLines(live, stat) {  // one line per arm and weight matrix; the dash tells the layer
  const dashes = ["solid", "dot", "dash", "dashdot", "longdash"];
  const traces = [];
  live.weightLayers().forEach((layer, li) => {
    for (const run of live.visible()) {
      const ms = run.metrics.filter((m) => m && m.layers[layer]);
      traces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => m.layers[layer][stat]),
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

// One function per chart, the loss first (live.draw() runs them one task each).
export function curveSteps(live) {
  const at = (title, ytitle, extra) => layout(title, ytitle, extra, live.epochTick());
  return [
    () => react("chart-loss", [...lines(live, "train_loss", "train"), ...lines(live, "val_loss", "val", "dash")],
                at("Loss (data term; solid train, dashed validation)", "cross-entropy")),
    () => react("chart-acc", [...lines(live, "train_acc", "train"), ...lines(live, "val_acc", "val", "dash")],
                at("Accuracy (solid train, dashed validation)", "accuracy", {percent: true})),
    () => react("chart-gap", lines(live, "gap", "gap"),
                at("Generalization gap (train − validation accuracy)", "gap", {percent: true})),
    () => {
      const [extraKey, extraLabel] = chosen("extra-stat", "penalty", "penalty term in the loss");
      react("chart-extra", lines(live, extraKey, ""), at(extraLabel, extraKey));
    },
    () => {
      const [stat, label] = chosen("layer-stat", "mean_abs", "mean |w|");
      react("chart-weights", layerLines(live, stat),
            at(`${label} per weight matrix (solid: first layer)`, label, {percent: stat === "near_zero_frac"}));
    },
    () => react("chart-sparsity", layerLines(live, "zero_frac"),
                at("Exact zeros (fraction of weights = 0)", "fraction",
                   {yaxis: {title: {text: "fraction"}, rangemode: "tozero"}, percent: true})),
  ];
}
