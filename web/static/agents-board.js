// The agents board: time in status ticks every second; the board itself is fetched
// again every 10 s while the tab is visible (the server holds the truth). Both stop when
// the page is left (soft navigation: soft-nav-page.js).

import { definePage } from "./soft-nav-page.js";

const REFRESH_MS = 10000;

function pad(n) {
  return String(n).padStart(2, "0");
}

function tick() {
  for (const time of document.querySelectorAll("[data-agents-board] time[data-since]")) {
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(time.dateTime)) / 1000));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    time.textContent = h ? `${h}:${pad(m)}:${pad(seconds % 60)}` : `${pad(m)}:${pad(seconds % 60)}`;
  }
}

async function refresh(url) {
  if (document.visibilityState !== "visible") return;
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
      .querySelector("[data-agents-board]");
    const current = document.querySelector("[data-agents-board]");
    if (fresh && current) {
      current.replaceWith(fresh);
      tick();
    }
  } catch {
    // Offline for a moment: the next refresh tries again.
  }
}

definePage(import.meta.url, () => {
  // The board this page shows, even if an answer arrives after the page was left.
  const url = location.href;
  tick();
  const ticking = setInterval(tick, 1000);
  const refreshing = setInterval(() => refresh(url), REFRESH_MS);
  return () => {
    clearInterval(ticking);
    clearInterval(refreshing);
  };
});
