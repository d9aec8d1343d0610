// The experiment form (templates/_form.html): add, remove and expand arms, with no inline
// handlers (a strict CSP forbids them); after a refused submit, focus on the first field to fix.

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

export function wireArmsEditor() {
  document.addEventListener("click", onArmAction);
}

export function wireFormErrors() {
  document.addEventListener("htmx:afterSwap", focusFirstError);
}
