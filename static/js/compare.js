// Arms ticked for comparison, on any page, kept for the tab (sessionStorage); the bar that opens
// them side by side on the compare page.

export const Picks = {
  key: "reglab-compare",
  load() { try { return JSON.parse(sessionStorage.getItem(this.key)) || []; } catch { return []; } },
  save(list) { sessionStorage.setItem(this.key, JSON.stringify(list)); this.show(); },
  toggle(id, label, on) {
    const list = this.load().filter((p) => p.id !== id);
    if (on) list.push({id, label});
    this.save(list);
  },
  show() {
    const list = this.load();
    document.querySelectorAll("input.compare-pick").forEach((box) => {
      box.checked = list.some((p) => p.id === Number(box.value));
    });
    const bar = document.getElementById("compare-bar");
    if (!bar) return;
    bar.hidden = list.length === 0 || location.pathname === "/compare";  // it is the comparison
    document.getElementById("compare-count").textContent =
      `${list.length} arm${list.length === 1 ? "" : "s"} ticked: ${list.map((p) => p.label).join(", ")}`;
    document.getElementById("compare-link").href = `/compare?runs=${list.map((p) => p.id).join(",")}`;
  },
};

export function wirePicks() {
  document.addEventListener("change", (ev) => {
    const box = ev.target.closest("input.compare-pick");
    if (box) Picks.toggle(Number(box.value), box.dataset.label, box.checked);
  });
  // Swapped fragments (the list, run cards) come without ticks: give them back.
  document.addEventListener("htmx:afterSwap", () => Picks.show());
  document.addEventListener("htmx:sseMessage", () => Picks.show());
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-action]")?.dataset.action === "compare-clear") Picks.save([]);
  });
}
