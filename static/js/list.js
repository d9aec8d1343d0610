// The home page's experiment list: a changed filter goes back to page 1; the pager's buttons.

export function wireExperimentList() {
  document.addEventListener("input", (ev) => {
    if (ev.target.closest("#experiment-filters") && ev.target.id !== "list-page") {
      document.getElementById("list-page").value = "1";
    }
  });
  document.addEventListener("click", (ev) => {
    const pager = ev.target.closest(".pager [data-page]");
    if (!pager) return;
    document.getElementById("list-page").value = pager.dataset.page;
    htmx.trigger("#experiment-filters", "submit");
  });
}
