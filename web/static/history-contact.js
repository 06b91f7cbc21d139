// The contact page's "Calls" section: the contact's last calls, fetched from the server as
// HTML it has already escaped (web/templates/history_contact_calls.html). Without this
// script, or if the fetch fails, the section keeps its link to the full list. Runs again
// for each contact page shown (soft navigation: soft-nav-page.js); a page left before
// the answer arrives ignores it.

import { definePage } from "./soft-nav-page.js";

definePage(import.meta.url, (main) => {
  const controller = new AbortController();
  for (const box of main.querySelectorAll("[data-history-src]")) {
    fetch(box.dataset.historySrc, {
      credentials: "same-origin", headers: { Accept: "text/html" }, signal: controller.signal,
    })
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => {
        if (html === null) return;
        const parsed = new DOMParser().parseFromString(html, "text/html");
        box.replaceChildren(...parsed.body.childNodes);
      })
      .catch(() => {});
  }
  return () => controller.abort();
});
