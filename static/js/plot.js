// What every chart shares: the arms' colours, the size, the theme (light or dark), the title
// that wraps below the toolbar, axes without SI prefixes, and the toolbar (PNG and SVG).
// Plotly is the vendored classic script's global (static/vendor/plotly-basic-*.min.js).

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];

const CHART_HEIGHT = 340;
const TITLE_TOP = 46;  // px from the top: the title starts below the toolbar's row (~28 px)

export function lineMode(points) {  // markers help read a few epochs; past that they cost seconds to draw
  return points > 40 ? "lines" : "lines+markers";
}

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

// The title sits below the row Plotly's toolbar takes (never under it) and wraps on narrow
// screens; colours come from the page's theme. `dtick`: the epoch axis's step (whole epochs).
export function layout(title, ytitle, extra, dtick) {
  const theme = chartTheme();
  const base = {
    title: {text: wrapTitle(title), font: {size: 15}, x: 0.01, xanchor: "left", xref: "container",
            y: 1 - TITLE_TOP / CHART_HEIGHT, yref: "container", yanchor: "top"},
    margin: {l: 55, r: 10, t: TITLE_TOP + 22 * titleLines(title) + 8, b: 40},
    // Whole epochs only: on a narrow chart Plotly would put ticks at half epochs.
    xaxis: {title: {text: "epoch", standoff: 4}, rangemode: "tozero", tickformat: "d", gridcolor: theme.grid,
            zerolinecolor: theme.grid, dtick},
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
}

export function react(id, traces, chartLayout) {
  const el = document.getElementById(id);
  if (el) Plotly.react(el, traces, chartLayout, chartConfig(id));
}
