// The view's state in the URL: a link reproduces the chosen arm and chart options.

export const ViewState = {
  get(key) { return new URLSearchParams(location.search).get(key); },
  set(key, value) {
    const params = new URLSearchParams(location.search);
    params.set(key, value);
    history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
  },
  unset(key) {
    const params = new URLSearchParams(location.search);
    params.delete(key);
    const q = params.toString();
    history.replaceState(history.state, "", `${location.pathname}${q ? "?" + q : ""}${location.hash}`);
  },
  restore() {
    for (const [key, id] of [["extra", "extra-stat"], ["layer", "layer-stat"]]) {
      const el = document.getElementById(id), value = this.get(key);
      if (el && value && [...el.options].some((o) => o.value === value)) el.value = value;
    }
  },
};
