// The callback panel's colours follow the clock: the server classified each row when the
// page was made (crm/callbacks.py urgency); this re-applies the same rule at the next
// moment a row changes (15 minutes before its time, at its time, at its expiry), so a
// panel left open turns amber, red and grey without a reload. The timer stops when the
// page is left (soft navigation: soft-nav-page.js).

import { definePage } from "./soft-nav-page.js";

const DUE_SOON_MS = 15 * 60 * 1000;
const MAX_WAIT_MS = 60 * 1000;

let list = null;
let labels = {};
let timer = null;

function urgency(now, due, expires) {
  if (now >= expires) return "expired";
  if (now >= due) return "overdue";
  return due - now <= DUE_SOON_MS ? "due_soon" : "upcoming";
}

function rows() {
  return [...list.querySelectorAll("li[data-due]")].filter(
    (item) => item.dataset.urgency !== "closed" && item.dataset.urgency !== "expired");
}

function apply(item, now) {
  const next = urgency(now, Date.parse(item.dataset.due), Date.parse(item.dataset.expires));
  if (next === item.dataset.urgency) return;
  item.classList.replace(`urgency-${item.dataset.urgency}`, `urgency-${next}`);
  item.dataset.urgency = next;
  const badge = item.querySelector(".badge.urgency");
  if (badge && labels[next]) badge.textContent = labels[next];
  // An expired callback cannot be acted on any more (the server would refuse).
  const actions = item.querySelector(".callback-actions");
  if (next === "expired" && actions) actions.hidden = true;
}

function refresh() {
  const now = Date.now();
  let wait = MAX_WAIT_MS;
  for (const item of rows()) {
    apply(item, now);
    const due = Date.parse(item.dataset.due);
    for (const moment of [due - DUE_SOON_MS, due, Date.parse(item.dataset.expires)]) {
      if (moment > now) wait = Math.min(wait, moment - now);
    }
  }
  timer = setTimeout(refresh, wait + 50);
}

definePage(import.meta.url, () => {
  list = document.querySelector("[data-callback-list]");
  labels = list ? JSON.parse(list.dataset.labels || "{}") : {};
  if (list) refresh();
  return () => clearTimeout(timer);
});
