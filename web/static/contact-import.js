// Contact import page: sends the chosen file with the CSRF token in a header (so a large
// file is streamed by the server instead of refused as a too-big form) and, while an
// import runs, polls its progress and shows the summary when it is done. Moving on goes
// through soft navigation (the softphone's call carries on); leaving the page stops the
// polling (soft-nav-page.js).

import { navigate } from "./soft-nav.js";
import { definePage } from "./soft-nav-page.js";

const POLL_MS = 400;
const count = new Intl.NumberFormat(document.documentElement.lang || undefined);

function setupUpload(form, page) {
  const status = document.getElementById("import-upload-status");
  const errorBox = document.getElementById("import-upload-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    errorBox.hidden = true;
    status.textContent = form.dataset.uploading;
    const body = new FormData(form);
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { "X-CSRF-Token": body.get("csrf_token"), Accept: "application/json" },
        credentials: "same-origin",
      });
      const answer = await response.json();
      if (response.ok && answer.next) {
        if (!page.left) navigate(answer.next);
        return;
      }
      errorBox.textContent = answer.error || response.statusText;
    } catch (err) {
      errorBox.textContent = String(err);
    }
    errorBox.hidden = false;
    status.textContent = "";
    button.disabled = false;
  });
}

function setupProgress(box, page) {
  const bar = document.getElementById("import-bar");
  const percent = document.getElementById("import-percent");
  const done = document.getElementById("import-done");
  async function poll() {
    if (page.left) return;
    let state;
    try {
      const response = await fetch(box.dataset.statusUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      state = await response.json();
    } catch {
      page.timer = setTimeout(poll, POLL_MS * 5);
      return;
    }
    if (page.left) return;
    bar.value = state.percent;
    bar.textContent = `${state.percent} %`;
    percent.textContent = String(state.percent);
    done.textContent = count.format(state.done);
    if (state.step === "running") {
      page.timer = setTimeout(poll, POLL_MS);
      return;
    }
    if (state.step !== "done") {
      navigate(location.href, { replace: true }); // the page explains what went wrong
      return;
    }
    const finished = document.getElementById("import-finished");
    const message = finished.querySelector("[data-message]");
    message.textContent = message.dataset.message
      .replace("{imported}", count.format(state.imported))
      .replace("{failed}", count.format(state.failed))
      .replace("{total}", count.format(state.total));
    finished.hidden = false;
    finished.querySelector("a").focus();
  }
  page.timer = setTimeout(poll, POLL_MS);
}

definePage(import.meta.url, () => {
  const page = { left: false, timer: null };
  const upload = document.getElementById("import-upload");
  if (upload) setupUpload(upload, page);
  const progress = document.getElementById("import-progress");
  if (progress) setupProgress(progress, page);
  return () => {
    page.left = true;
    clearTimeout(page.timer);
  };
});
