// Weight images (experiment page): per visible arm, the incoming weights of the same first-layer
// units drawn as images, and the input-importance map (per input, the sum over all units of |w|),
// at the epoch the scrubber shows. One colour scale for every arm: the tiles' diverging scale is
// centred on 0 and spans the largest |w| of any arm's tiles; the importance maps share 0..max.
// Answers come from GET /api/runs/{id}/weights?epoch=N, cached per (run, epoch).
import {shownEpoch} from "./scrubber.js";

const cache = new Map();  // "run:epoch" -> the answer, or null (the run has none there)
let timer = null;

// Called by the scrubber whenever it shows an epoch (a drag, play, a new epoch while following).
export function wireWeights(live) {
  if (!document.getElementById("weights") || live.weightsWired) return;
  live.weightsWired = true;
  document.addEventListener("reglab:epoch", () => {
    clearTimeout(timer);
    timer = setTimeout(() => drawWeights(live), 120);
  });
}

async function weightsAt(run, n) {
  const key = `${run.id}:${n}`;
  if (cache.has(key)) return cache.get(key);
  const r = await fetch(`/api/runs/${run.id}/weights?epoch=${n}`).catch(() => null);
  if (!r) return null;  // the server went away for a moment: asked again at the next draw
  const answer = r.ok ? await r.json() : null;
  if (answer || r.status === 404) cache.set(key, answer);
  return answer;
}

export async function drawWeights(live) {
  const box = document.getElementById("weights");
  if (!box || !live.scrubbing) return;
  wireWeights(live);
  const n = shownEpoch(live);
  const arms = live.visible().filter((run) => run.metrics.length);
  if (!arms.length) return;
  const answers = await Promise.all(arms.map((run) => (run.metrics.length >= n ? weightsAt(run, n) : null)));
  if (n !== shownEpoch(live)) return;  // the scrubber moved on meanwhile
  if (!answers.some(Boolean) && arms.every((run) => run.metrics.length >= n)) {
    box.hidden = true;  // a model without weight images
    return;
  }
  box.hidden = false;
  let wmax = 0, imax = 0;
  for (const a of answers) {
    if (!a) continue;
    for (const t of a.tiles) for (const v of t) wmax = Math.max(wmax, Math.abs(v));
    for (const v of importanceMap(a)) imax = Math.max(imax, v);
  }
  const grid = box.querySelector(".weights-grid");
  const keep = new Set(arms.map((run) => String(run.id)));
  for (const el of [...grid.children]) if (!keep.has(el.dataset.run)) el.remove();
  arms.forEach((run, i) => drawArm(grid, run, answers[i], n, wmax, imax));
  const first = answers.find(Boolean);
  const what = first && first.layer.startsWith("conv") ? "filters of the first convolution" : "incoming weights of first-layer units";
  box.querySelector(".weights-scale").textContent = first
    ? `Epoch ${n}: ${what} ${first.units.join(", ")}; blue < 0 < red, ±${wmax.toPrecision(3)} for every arm` +
      `${first.image_shape[0] === 3 ? " (per colour channel, 0 is grey)" : ""}. Importance 0 to ${imax.toPrecision(3)}.`
    : "";
}

function drawArm(grid, run, a, n, wmax, imax) {
  let el = grid.querySelector(`[data-run="${run.id}"]`);
  if (!el) {
    el = document.createElement("figure");
    el.className = "weights-arm";
    el.dataset.run = String(run.id);
    el.innerHTML = `<figcaption></figcaption><canvas class="tiles" role="img"></canvas>
      <canvas class="importance" role="img"></canvas><p class="hint missing"></p>`;
    grid.appendChild(el);
  }
  el.querySelector("figcaption").innerHTML = `<span class="swatch" style="background:${run.color}"></span> `;
  el.querySelector("figcaption").append(run.name);
  const [tiles, imp, missing] = [el.querySelector(".tiles"), el.querySelector(".importance"), el.querySelector(".missing")];
  tiles.hidden = imp.hidden = !a;
  missing.textContent = a ? "" : run.metrics.length >= n ? `no weight images at epoch ${n}` : `not yet at epoch ${n}`;
  el.dataset.epoch = a ? String(a.epoch) : "";
  if (!a) return;
  paintTiles(tiles, a, wmax);
  tiles.setAttribute("aria-label", `${run.name}: ${a.units.length} weight images at epoch ${a.epoch}`);
  paintImportance(imp, a, imax);
  imp.setAttribute("aria-label", `${run.name}: input importance at epoch ${a.epoch}`);
}

// Tiles in rows of four, a one-pixel gap between them; the canvas is drawn at one pixel per
// input and scaled up by CSS (image-rendering: pixelated).
function paintTiles(canvas, a, wmax) {
  const [c, h, w] = a.image_shape;
  const cols = Math.min(4, a.tiles.length), rows = Math.ceil(a.tiles.length / cols);
  canvas.width = cols * (w + 1) - 1;
  canvas.height = rows * (h + 1) - 1;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  const scale = wmax > 0 ? 1 / wmax : 0;
  a.tiles.forEach((tile, t) => {
    const x0 = (t % cols) * (w + 1), y0 = Math.floor(t / cols) * (h + 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = 4 * ((y0 + y) * canvas.width + x0 + x);
        const rgb = c === 3
          ? [0, 1, 2].map((ch) => 127.5 * (1 + scale * tile[ch * h * w + y * w + x]))
          : diverging(scale * tile[y * w + x]);
        img.data.set([...rgb, 255], o);
      }
    }
  });
  ctx.putImageData(img, 0, 0);
}

function diverging(v) {  // -1 blue, 0 white, +1 red
  const t = Math.max(-1, Math.min(1, v));
  return t >= 0 ? [255, 255 * (1 - t), 255 * (1 - t)] : [255 * (1 + t), 255 * (1 + t), 255];
}

function importanceMap(a) {  // per pixel, summed over the colour channels
  const [c, h, w] = a.image_shape;
  const map = new Float64Array(h * w);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) map[i] += a.importance[ch * h * w + i];
  return map;
}

function paintImportance(canvas, a, imax) {
  const [, h, w] = a.image_shape;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const map = importanceMap(a);
  for (let i = 0; i < h * w; i++) {
    const t = imax > 0 ? map[i] / imax : 0;  // 0 white .. max dark purple
    img.data.set([255 - 175 * t, 255 - 220 * t, 255 - 115 * t, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}
