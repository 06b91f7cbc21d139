// The top bar's missed-call badge: kept current from /api/missed/count, and a desktop
// notification when a new missed call arrives (if the person allowed notifications).
// The server renders the first count; this only follows it. Tabs share what they have
// announced through localStorage, so several open tabs notify once.

import { navigate } from "./soft-nav.js";

const POLL_MS = 20000;
const SEEN_KEY = "headset.missed.latest";

const badge = document.querySelector("[data-missed-badge]");

function show(count) {
  if (!badge) return;
  const label = badge.querySelector(".sr-only");
  badge.textContent = String(count);
  if (label) badge.prepend(label);
  badge.hidden = count === 0;
}

function notify(count) {
  if (!badge || !("Notification" in window) || Notification.permission !== "granted") return;
  const body = (badge.dataset.notifyBody || "").replace("{count}", String(count));
  const note = new Notification(badge.dataset.notifyTitle || "", { body, tag: "headset-missed" });
  note.addEventListener("click", () => {
    window.focus();
    navigate("/missed"); // a soft navigation: a call in progress carries on
  });
}

async function poll() {
  let answer;
  try {
    const response = await fetch("/api/missed/count", {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (!response.ok) return;
    answer = await response.json();
  } catch {
    return; // offline for a moment: the next poll tries again
  }
  show(answer.count);
  const seen = localStorage.getItem(SEEN_KEY);
  if (answer.latest && answer.latest !== seen) {
    localStorage.setItem(SEEN_KEY, answer.latest);
    // The first look in this browser only sets the mark: nothing is "new" yet.
    if (seen && answer.latest > seen) notify(answer.count);
  }
}

// The /missed page offers to turn notifications on; asking needs a click. That page may
// arrive by soft navigation (soft-nav.js), so this looks again after each one.
function offerNotifications() {
  const enable = document.getElementById("missed-notify");
  if (!enable || !("Notification" in window) || Notification.permission !== "default") return;
  enable.hidden = false;
  enable.addEventListener("click", async () => {
    await Notification.requestPermission();
    enable.hidden = Notification.permission !== "default";
  });
}
offerNotifications();
document.addEventListener("soft-nav:load", offerNotifications);

if (badge) {
  poll();
  setInterval(poll, POLL_MS);
  // Coming back to the tab: catch up at once rather than at the next tick.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") poll();
  });
}
