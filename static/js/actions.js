// The experiment page's actions: annotate (rename, notes, tags), run again, delete.
import {Picks} from "./compare.js";

async function api(method, url, body) {
  const r = await fetch(url, {method, headers: body ? {"content-type": "application/json"} : {},
                              body: body ? JSON.stringify(body) : undefined});
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  return {ok: r.ok, status: r.status, data};
}

function plainError(res) {  // the API's 422 detail, or its 404, in words
  const d = res.data && res.data.detail;
  if (Array.isArray(d)) return d.map((e) => `${e.loc[e.loc.length - 1]}: ${e.msg}`).join("; ");
  return d || `The server answered ${res.status}.`;
}

async function runAgain(button) {
  button.disabled = true;
  const res = await api("POST", `/api/experiments/${button.dataset.experiment}/clone`);
  if (res.ok) location.href = `/experiments/${res.data.id}`;
  else { button.disabled = false; alert(plainError(res)); }
}

async function deleteExperiment(button) {
  const name = document.getElementById("experiment-name").textContent;
  if (!confirm(`Delete "${name}" with all its arms, charts and checkpoints? Running arms stop. This cannot be undone.`)) return;
  const res = await api("DELETE", `/api/experiments/${button.dataset.experiment}`);
  if (res.ok || res.status === 404) {
    const ids = [...document.querySelectorAll(".card[id^='run-']")].map((c) => Number(c.id.slice(4)));
    Picks.save(Picks.load().filter((p) => !ids.includes(p.id)));
    location.href = "/#experiments";
  } else alert(plainError(res));
}

async function onAction(ev) {
  const button = ev.target.closest("[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  const form = document.getElementById("annotate-form");
  if (action === "annotate" || action === "annotate-cancel") {
    form.hidden = action === "annotate-cancel" ? true : !form.hidden;
    document.querySelector('[data-action="annotate"]').setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) form.querySelector('[name="name"]').focus();
  } else if (action === "run-again") {
    await runAgain(button);
  } else if (action === "delete") {
    await deleteExperiment(button);
  }
}

function showAnnotations(exp) {
  document.getElementById("experiment-name").textContent = exp.name;
  document.title = `${exp.name} · reglab`;
  const notes = document.getElementById("experiment-notes");
  notes.textContent = exp.notes;
  notes.hidden = !exp.notes;
  const box = document.getElementById("experiment-tags");
  box.replaceChildren(...exp.tags.map((t) => {
    const a = document.createElement("a");
    a.className = "tag"; a.textContent = t; a.href = `/?tag=${encodeURIComponent(t)}#experiments`;
    return a;
  }));
}

async function onAnnotate(ev) {
  if (ev.target.id !== "annotate-form") return;
  ev.preventDefault();
  const form = ev.target, error = document.getElementById("annotate-error");
  const tags = form.elements.namedItem("tags").value.split(/[\s,]+/).filter(Boolean);
  const res = await api("PATCH", `/api/experiments/${form.dataset.experiment}`,
                        {name: form.elements.namedItem("name").value, notes: form.elements.namedItem("notes").value, tags});
  if (!res.ok) {
    error.textContent = plainError(res);
    error.hidden = false;
    form.querySelector('[name="' + (res.data?.detail?.[0]?.loc?.[1] || "name") + '"]')?.focus();
    return;
  }
  error.hidden = true;
  form.hidden = true;
  showAnnotations(res.data);
}

export function wireActions() {
  document.addEventListener("click", onAction);
  document.addEventListener("submit", onAnnotate);
}
