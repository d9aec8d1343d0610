// The experiment form (templates/_form.html): add, remove and expand arms, with no inline
// handlers (a strict CSP forbids them); after a refused submit, focus on the first field to fix;
// show only the fields that apply to the chosen task and model.

function renumberArms(form) {
  // Fields are named runs.<i>.<field>; keep <i> equal to the row's position so errors match.
  form.querySelectorAll("tbody.arm").forEach((arm, i) => {
    arm.querySelectorAll("[name^='runs.']").forEach((el) => {
      el.name = el.name.replace(/^runs\.[^.]+\./, `runs.${i}.`);
    });
  });
}

function onArmAction(ev) {
  const button = ev.target.closest("[data-action]");
  if (!button) return;
  const form = button.closest("form");
  const action = button.dataset.action;
  if (action === "add-arm") {
    const arms = form.querySelectorAll("tbody.arm");
    const fresh = form.querySelector("#arm-template").content.querySelector("tbody.arm").cloneNode(true);
    fresh.querySelector("[name$='.name']").value = "arm " + (arms.length + 1);
    (arms.length ? arms[arms.length - 1] : form.querySelector("table.arms thead")).after(fresh);
    renumberArms(form);
    applyTask(form);
  } else if (action === "remove-arm") {
    if (form.querySelectorAll("tbody.arm").length > 1) button.closest("tbody.arm").remove();
    renumberArms(form);
  } else if (action === "toggle-more") {
    const more = button.closest("tbody.arm").querySelector("tr.arm-more");
    more.hidden = !more.hidden;
    button.setAttribute("aria-expanded", String(!more.hidden));
  }
}

function focusFirstError(ev) {
  if (ev.detail.target?.id !== "experiment-form" && ev.detail.elt?.id !== "experiment-form") return;
  const form = document.getElementById("experiment-form");
  const first = form && form.querySelector(".invalid input, .invalid select, .invalid textarea");
  if (first) {
    const more = first.closest("tr.arm-more");
    if (more) more.hidden = false;
    first.focus();
  }
}

const fits = (el, attr, value) => !el.hasAttribute(attr) || el.getAttribute(attr).split(" ").includes(value);

// Fields marked data-datasets / data-models (templates/_form_macros.html) apply only there:
// elsewhere they are hidden and disabled, so they are not sent and the server takes the default.
// Model options that do not fit the task are disabled; a chosen one that does not fit gives way
// to the first that does.
export function applyTask(form) {
  const task = form.querySelector("select[name='dataset']");
  const model = form.querySelector("select[name='model']");
  if (!task) return;
  if (model) {
    for (const opt of model.options) opt.disabled = !fits(opt, "data-datasets", task.value);
    if (model.selectedOptions[0]?.disabled) {
      const first = [...model.options].find((o) => !o.disabled);
      if (first) model.value = first.value;
    }
  }
  form.querySelectorAll("[data-datasets], [data-models]").forEach((el) => {
    if (el.tagName === "OPTION") return;
    const on = fits(el, "data-datasets", task.value) && (!model || fits(el, "data-models", model.value));
    el.hidden = !on;
    el.querySelectorAll("input, select, textarea").forEach((field) => { field.disabled = !on; });
  });
}

// Picking a task fills in its defaults (model, size, optimizer, epochs, full batch...), as the
// API does for a request that leaves them out: the form sends every field it shows.
function fillTaskDefaults(form, select) {
  const json = select.selectedOptions[0]?.dataset.defaults;
  if (!json) return;
  for (const [name, value] of Object.entries(JSON.parse(json))) {
    const field = form.elements.namedItem(name);
    if (field && "value" in field) field.value = value === null ? "" : String(value);
  }
}

function onFormChange(ev) {
  const form = ev.target.closest("#experiment-form");
  if (!form || (ev.target.name !== "dataset" && ev.target.name !== "model")) return;
  if (ev.target.name === "dataset") fillTaskDefaults(form, ev.target);
  applyTask(form);
}

function applyOnLoad() {
  const form = document.getElementById("experiment-form");
  if (form) applyTask(form);
}

export function wireTaskFields() {
  document.addEventListener("change", onFormChange);
  // The form arrives with the page, and again with each preset or refused submit (htmx).
  document.addEventListener("DOMContentLoaded", applyOnLoad);
  document.addEventListener("htmx:afterSwap", applyOnLoad);
}

export function wireArmsEditor() {
  document.addEventListener("click", onArmAction);
}

export function wireFormErrors() {
  document.addEventListener("htmx:afterSwap", focusFirstError);
}
