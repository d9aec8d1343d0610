// Repeats over seeds on the per-epoch charts: per arm the mean curve and its 95 % band (Student t
// over the seeds that reached the epoch), the band a translucent fill in the arm's colour between
// a lower and an upper trace; with "show each repeat", every repeat faintly beside it.
import {lineMode} from "./plot.js";

// t_{0.975, df} for df = 1..19 (repeats are at most 20), as printed in t tables.
const T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093];

// Mean and 95 % interval of the values; no interval below two values.
export function interval(values) {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return {n, mean, low: null, high: null};
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = T_975[Math.min(n - 1, T_975.length) - 1] * sd / Math.sqrt(n);
  return {n, mean, low: mean - half, high: mean + half};
}

function translucent(hex, alpha) {
  const v = parseInt(hex.slice(1), 16);
  return `rgba(${v >> 16}, ${(v >> 8) & 255}, ${v & 255}, ${alpha})`;
}

// The visible runs grouped by arm, in arm order: [[first run, [runs...]], ...].
export function byArm(runs) {
  const arms = new Map();
  for (const run of runs) {
    const key = run.arm ?? run.id;
    if (!arms.has(key)) arms.set(key, [run, []]);
    arms.get(key)[1].push(run);
  }
  return [...arms.values()];
}

// Per epoch, the interval of `field` over the repeats that reached it.
function perEpoch(repeats, field) {  // field: a metric's name, or a function of the epoch's metrics
  const get = typeof field === "function" ? field : (m) => m[field];
  const values = new Map();
  for (const run of repeats)
    for (const m of run.metrics) {
      const v = m ? get(m) : null;
      if (v === null || v === undefined) continue;
      if (!values.has(m.epoch)) values.set(m.epoch, []);
      values.get(m.epoch).push(v);
    }
  return [...values.keys()].sort((a, b) => a - b).map((epoch) => ({epoch, ...interval(values.get(epoch))}));
}

export function bandLines(live, field, label, dash, showRepeats) {
  const traces = [];
  for (const [first, repeats] of byArm(live.visible(true))) {
    const name = label ? `${first.name} ${label}` : first.name;
    const group = `arm-${first.arm}`;
    const pts = perEpoch(repeats, field);
    const banded = pts.filter((p) => p.low !== null);
    const x = banded.map((p) => p.epoch);
    traces.push({x, y: banded.map((p) => p.low), type: "scatter", mode: "lines", line: {width: 0},
                 legendgroup: group, showlegend: false, hoverinfo: "skip", name: `${name} 95 % low`});
    traces.push({x, y: banded.map((p) => p.high), type: "scatter", mode: "lines", line: {width: 0},
                 fill: "tonexty", fillcolor: translucent(first.color, dash ? 0.12 : 0.22),
                 legendgroup: group, showlegend: false, hoverinfo: "skip", name: `${name} 95 % band`});
    traces.push({x: pts.map((p) => p.epoch), y: pts.map((p) => p.mean), type: "scatter",
                 name: `${name} (mean of ${repeats.length})`, legendgroup: group, mode: lineMode(pts.length),
                 line: {color: first.color, dash: dash || "solid"}, marker: {size: 5}});
    if (showRepeats) for (const run of repeats) {
      const ms = run.metrics.filter(Boolean);
      traces.push({x: ms.map((m) => m.epoch), y: ms.map((m) => m[field]), type: "scatter", mode: "lines",
                   name: `${name} seed ${run.seed}`, legendgroup: group, showlegend: false, opacity: 0.3,
                   line: {color: first.color, dash: dash || "solid", width: 1}});
    }
  }
  return traces;
}
