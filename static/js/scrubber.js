// The epoch scrubber above the histograms. On the experiment page one slider (1..the latest
// epoch of any arm) picks the epoch every arm's histograms show, with play and follow-latest;
// the compare page shows each run's latest epoch, with the log toggle only. State: live.hist.
import {ViewState} from "./viewstate.js";

function toolsHtml(scrubbing, what) {
  return (scrubbing ? `
      <label for="epoch-slider">${what} at epoch</label>
      <input type="range" id="epoch-slider" min="1" max="1" step="1" value="1">
      <output id="epoch-value" for="epoch-slider">1</output>
      <button type="button" id="epoch-play" aria-pressed="false">Play</button>
      <label class="check"><input type="checkbox" id="epoch-follow" checked> follow latest</label>` : "") + `
      <label class="check"><input type="checkbox" id="hist-log"> log counts</label>
      <span class="hint" id="epoch-missing" role="status"></span>`;
}

// Builds the tools once, before the histograms' box; `redraw` draws the histograms again.
export function initScrubber(live, redraw) {
  const box = document.getElementById("histograms");
  if (!box || document.getElementById("hist-tools")) return;
  const tools = document.createElement("div");
  tools.className = "chart-tools scrubber";
  tools.id = "hist-tools";
  // A toy task's function views (static/js/function.js) follow the slider too: it goes above them.
  const functions = document.getElementById("functions");
  tools.innerHTML = toolsHtml(live.scrubbing, functions ? "Functions and histograms" : "Histograms");
  (functions || box).before(tools);
  const h = live.hist;
  const log = document.getElementById("hist-log");
  log.checked = h.log;
  log.addEventListener("change", () => { h.log = log.checked; ViewState.set("log", h.log ? "1" : "0"); redraw(); });
  if (!live.scrubbing) return;
  const slider = document.getElementById("epoch-slider");
  const follow = document.getElementById("epoch-follow");
  follow.checked = h.follow;
  slider.addEventListener("input", () => {  // dragging: the label at once, the charts debounced
    pickEpoch(live, Number(slider.value));
    clearTimeout(h.debounce);
    h.debounce = setTimeout(redraw, 120);
  });
  slider.addEventListener("change", () => { clearTimeout(h.debounce); redraw(); });
  follow.addEventListener("change", () => {
    stopPlay(live);
    h.follow = follow.checked;
    if (h.follow) ViewState.unset("epoch");
    else ViewState.set("epoch", String(shownEpoch(live)));
    h.epoch = shownEpoch(live);
    syncScrubber(live);
    redraw();
  });
  document.getElementById("epoch-play").addEventListener("click", () => play(live, redraw));
  syncScrubber(live);
}

function play(live, redraw) {  // Play steps on from the epoch shown (from 1 at the end); Pause stops
  const h = live.hist;
  if (h.playing) { stopPlay(live); return; }
  const last = lastEpoch(live);
  if (shownEpoch(live) >= last) pickEpoch(live, 1);
  else pickEpoch(live, shownEpoch(live));
  setPlaying(true);
  redraw();
  h.playing = setInterval(() => {
    if (shownEpoch(live) >= lastEpoch(live)) { stopPlay(live); return; }
    pickEpoch(live, shownEpoch(live) + 1);
    redraw();
  }, 800);
}

function setPlaying(on) {
  const b = document.getElementById("epoch-play");
  if (!b) return;
  b.textContent = on ? "Pause" : "Play";
  b.setAttribute("aria-pressed", String(on));
}

function stopPlay(live) {
  clearInterval(live.hist.playing);
  live.hist.playing = null;
  setPlaying(false);
}

function pickEpoch(live, n) {  // a chosen epoch: follow-latest off, the epoch in the URL
  const h = live.hist;
  h.follow = false;
  h.epoch = Math.max(1, n);
  const follow = document.getElementById("epoch-follow");
  if (follow) follow.checked = false;
  ViewState.set("epoch", String(h.epoch));
  syncScrubber(live);
}

function lastEpoch(live) {
  let last = 0;
  for (const run of live.runs.values()) last = Math.max(last, run.metrics.length, run.histEpoch || 0);
  return last;
}

export function shownEpoch(live) {
  const last = lastEpoch(live);
  return live.hist.follow || live.hist.epoch === null ? Math.max(1, last) : live.hist.epoch;
}

export function syncScrubber(live) {
  const slider = document.getElementById("epoch-slider");
  if (!slider) return;
  const n = shownEpoch(live);
  slider.max = String(Math.max(1, lastEpoch(live), n));
  slider.value = String(n);
  slider.setAttribute("aria-valuetext", `epoch ${n} of ${slider.max}`);
  document.getElementById("epoch-value").textContent = `${n} / ${slider.max}`;
  document.dispatchEvent(new CustomEvent("reglab:epoch", {detail: n}));  // other per-epoch views
}
