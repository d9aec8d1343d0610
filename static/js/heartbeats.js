// Heartbeat ages tick in the browser: the card is only re-sent when something changes.
import {heartbeatAge} from "./format.js";

export function tickHeartbeats() {
  const now = Date.now();
  document.querySelectorAll(".hb-age[data-at]").forEach((el) => {
    const age = Math.max(0, (now - Date.parse(el.dataset.at)) / 1000);
    el.textContent = heartbeatAge(age);
    el.classList.toggle("stale", age > 10);
  });
}

export function wireHeartbeats() {
  setInterval(tickHeartbeats, 1000);
}
