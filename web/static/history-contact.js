// The contact page's "Calls" section: the contact's last calls, fetched from the server as
// HTML it has already escaped (web/templates/history_contact_calls.html). Without this
// script, or if the fetch fails, the section keeps its link to the full list.

for (const box of document.querySelectorAll("[data-history-src]")) {
  fetch(box.dataset.historySrc, { credentials: "same-origin", headers: { Accept: "text/html" } })
    .then((response) => (response.ok ? response.text() : null))
    .then((html) => {
      if (html === null) return;
      const parsed = new DOMParser().parseFromString(html, "text/html");
      box.replaceChildren(...parsed.body.childNodes);
    })
    .catch(() => {});
}
