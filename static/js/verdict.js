// The verdict table (templates/_verdict.html): each arm against the reference arm, from
// /api/experiments/{id}/summary; built as nodes, never as HTML (arm names are the user's text).
import {fmtDiff, fmtValue} from "./format.js";

const VERDICT_COLUMNS = [  // [field, fraction?]: fractions print as "87.6 %", differences in points
  ["final_val_acc", true], ["best_val_acc", true], ["final_gap", true],
  ["final_mean_abs", false], ["final_near_zero_frac", true], ["dead_units", true]];
// A regression task's (templates/_verdict.html's other header): R² and MSE, never an accuracy.
const REGRESSION_COLUMNS = [
  ["final_val_r2", false], ["best_val_r2", false], ["final_val_loss", false], ["final_gap", false],
  ["final_mean_abs", false], ["final_near_zero_frac", true], ["dead_units", true]];

function cell(summary, arm, key, fraction) {
  const td = document.createElement("td");
  td.className = "num";
  td.dataset.col = key;
  let text = fmtValue(arm[key], fraction);
  if ((key === "best_val_acc" || key === "best_val_r2") && arm.best_epoch) text += ` (ep. ${arm.best_epoch})`;
  text += spread(arm, key);
  // Every arm that ties with the best is marked: the API names one of them.
  const best = summary.arms.find((a) => a.run_id === summary.best[key]);
  if (best && arm[key] === best[key] && summary.arms.length > 1) { td.classList.add("best"); text = "★ " + text; }
  td.append(text);
  if (arm.run_id !== summary.reference && arm.vs_reference[key] !== null) {
    const diff = document.createElement("span");
    diff.className = "diff";
    diff.textContent = fmtDiff(arm.vs_reference[key], fraction);
    td.append(diff);
  }
  return td;
}

// With repeats: the 95 % interval's half-width beside the mean, in percentage points.
function spread(arm, key) {
  const iv = arm.repeats > 1 ? arm.intervals?.[key] : null;
  if (!iv || iv.low === null || iv.high === null) return "";
  return ` ± ${(100 * (iv.high - iv.low) / 2).toFixed(1)}`;
}

// One plain sentence per arm against the reference, and what was left out.
function sentences(summary) {
  const list = document.getElementById("verdict-sentences");
  if (!list) return;
  const items = [];
  for (const arm of summary.arms) {
    let text = arm.sentence;
    if (!text) continue;
    if (arm.pending) text += ` (${arm.pending} of ${arm.repeats} repeats still training)`;
    const li = document.createElement("li");
    li.textContent = text;
    items.push(li);
  }
  list.replaceChildren(...items);
  list.hidden = !items.length;
}

function row(summary, arm, runs) {
  const tr = document.createElement("tr");
  tr.dataset.run = arm.run_id;
  if (arm.run_id === summary.reference) tr.className = "reference";
  const name = document.createElement("td");
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = runs.get(arm.run_id)?.color || "";
  name.append(swatch, " ", arm.name);
  const epochs = document.createElement("td");
  epochs.className = "num";
  epochs.textContent = arm.status === "succeeded" ? String(arm.epochs_done) : `${arm.epochs_done} (${arm.status})`;
  if (arm.repeats > 1) epochs.textContent += ` × ${arm.repeats} seeds`;
  tr.append(name, epochs);
  const columns = summary.kind === "regression" ? REGRESSION_COLUMNS : VERDICT_COLUMNS;
  for (const [key, fraction] of columns) tr.append(cell(summary, arm, key, fraction));
  return tr;
}

export function drawVerdict(summary, runs) {
  const body = document.getElementById("verdict-rows");
  if (!body || !summary.arms.length) return;
  const ref = summary.arms.find((a) => a.run_id === summary.reference);
  document.getElementById("verdict-ref").textContent = ref ? `(${ref.name})` : "";
  body.replaceChildren(...summary.arms.map((arm) => row(summary, arm, runs)));
  sentences(summary);
}
