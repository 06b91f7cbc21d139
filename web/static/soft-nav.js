// Soft navigation: moving between CRM pages never unloads the document that holds the
// softphone, so its WebSocket, RTCPeerConnection and audio element (the call) carry on.
//
// Theory of operation. Same-origin link clicks and form submissions inside the app are
// fetched instead of followed; the answer's <main id="content"> replaces ours, with its
// title, stylesheets and the top bar's "current page" marks, and history gets an entry
// (back/forward fetch again). The page's scripts stop and start through
// soft-nav-page.js. An answer counts as an app page when it carries the same
// <meta name="headset-shell"> as this document (same user, language, role, dialer and
// CSRF token): anything else (the login page, a language change, a download) needs a
// real load. A real load is what happens when a fetch fails or the answer is not an app
// page, except during a live call: then the page says so and lets the agent choose.
//
// Left to the browser: other origins, modified or middle clicks, target=_blank,
// `download` links, anything inside [data-hard-nav], in-page #anchors, and the paths in
// HARD_PATHS (log out, the language switch, files and APIs).

import { adoptScripts, enterPage, leavePage } from "./soft-nav-page.js";

const HARD_PATHS = [
  /^\/(login|logout|ws)$/,
  /^\/(static|api|i18n)\//,
  /^\/profile\/(language|dialer|password)$/,
  /\.(csv|ics|json|svg|png|pdf|zip|txt)$/i,
];
const LIVE_CALL_STATES = new Set(["dialing", "ringing", "connected"]);
const STYLE_LOAD_TIMEOUT_MS = 3000;
const SCROLL_SAVE_MS = 150;

const main = document.getElementById("content");
const shellKey = (document.querySelector('meta[name="headset-shell"]') || {}).content || "";
const words = readWords();

let controller = null; // the navigation in flight
// History entries this document made carry state.softNavId, unique to this document.
const documentToken = Math.random().toString(36).slice(2);
let entryCount = 0;
const nextEntryId = () => `${documentToken}-${++entryCount}`;
let shownId = nextEntryId();
let shownUrl = withoutHash(location.href);
let scrollTimer = null;

function readWords() {
  const block = document.getElementById("headset-navigation-words");
  try {
    return JSON.parse((block && block.textContent) || "{}");
  } catch {
    return {};
  }
}

function withoutHash(href) {
  const url = new URL(href, location.href);
  url.hash = "";
  return url.href;
}

/** Whether `url` is a page of this app that a soft navigation may fetch. */
function softTarget(url) {
  if (url.origin !== location.origin || !/^https?:$/.test(url.protocol)) return false;
  return !HARD_PATHS.some((pattern) => pattern.test(url.pathname));
}

function callIsLive() {
  const phone = document.querySelector("section.softphone");
  return Boolean(phone) && LIVE_CALL_STATES.has(phone.dataset.callState);
}

function pageScripts(doc) {
  return [...doc.querySelectorAll('script[type="module"][src]:not([data-shell])')]
    .map((script) => new URL(script.getAttribute("src"), location.href).href);
}

function isAppPage(doc) {
  const meta = doc.querySelector('meta[name="headset-shell"]');
  return Boolean(meta) && meta.content === shellKey && Boolean(doc.getElementById("content"));
}

// -- intercepting --------------------------------------------------------------------

function onClick(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!link || link.hasAttribute("download") || link.closest("[data-hard-nav]")) return;
  if (link.target && link.target !== "_self") return;
  const url = new URL(link.href, location.href);
  if (!softTarget(url)) return;
  // An anchor in the page on screen: the browser scrolls to it.
  if (url.hash && withoutHash(url.href) === shownUrl) return;
  event.preventDefault();
  navigate(url.href);
}

function onSubmit(event) {
  if (event.defaultPrevented) return;
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.closest("[data-hard-nav]")) return;
  const submitter = event.submitter || null;
  const attr = (name, formName) => (submitter && submitter.getAttribute(formName)) || form.getAttribute(name);
  const method = (attr("method", "formmethod") || "get").toLowerCase();
  const target = attr("target", "formtarget");
  if (method === "dialog" || (target && target !== "_self")) return;
  const action = new URL(attr("action", "formaction") || location.href, location.href);
  if (!softTarget(action)) return;
  event.preventDefault();
  const data = submitter ? new FormData(form, submitter) : new FormData(form);
  if (method === "post") {
    const multipart = (attr("enctype", "formenctype") || "").toLowerCase() === "multipart/form-data";
    go(action.href, { method: "POST", body: multipart ? data : new URLSearchParams(data), form });
  } else {
    action.search = new URLSearchParams(data).toString();
    action.hash = "";
    go(action.href, {});
  }
}

function onPopState(event) {
  const state = event.state || {};
  if (state.softNavId === shownId) return;
  // An entry without our state that shows the same page is an in-page #anchor.
  if (state.softNavId === undefined && withoutHash(location.href) === shownUrl) return;
  go(location.href, { history: "none", scroll: state.scroll ?? 0, id: state.softNavId });
}

function onScroll() {
  clearTimeout(scrollTimer);
  scrollTimer = setTimeout(() => {
    history.replaceState({ ...(history.state || {}), softNavId: shownId, scroll: window.scrollY }, "");
  }, SCROLL_SAVE_MS);
}

// -- loading -------------------------------------------------------------------------

/**
 * Show the app page at `url` without unloading this document (a real load when that
 * cannot be done). `replace: true` replaces the current history entry instead of adding.
 */
export function navigate(url, { replace = false } = {}) {
  return go(new URL(url, location.href).href, { history: replace ? "replace" : "push" });
}

async function go(url, { method = "GET", body = null, form = null, history: mode = "push", scroll = 0, id } = {}) {
  if (controller) controller.abort();
  const mine = new AbortController();
  controller = mine;
  setBusy(true);
  clearNotice();
  let response = null;
  let html = "";
  try {
    response = await fetch(url, {
      method, body, credentials: "same-origin", headers: { Accept: "text/html" }, signal: mine.signal,
    });
    const type = response.headers.get("Content-Type") || "";
    const attachment = /attachment/i.test(response.headers.get("Content-Disposition") || "");
    if (type.startsWith("text/html") && !attachment) html = await response.text();
  } catch {
    if (mine !== controller) return;
    done(mine);
    fallBack(url, { method, form, failed: true, retry: () => go(url, { method, body, form, history: mode, scroll, id }) });
    return;
  }
  if (mine !== controller) return;
  const doc = html ? new DOMParser().parseFromString(html, "text/html") : null;
  // The answer's URL after redirects; a fragment asked for stays (fetch drops it).
  const shown = new URL(response.url || url);
  const asked = new URL(url);
  if (asked.hash && withoutHash(shown.href) === withoutHash(asked.href)) shown.hash = asked.hash;
  if (!doc || !isAppPage(doc)) {
    done(mine);
    fallBack(shown.href, { method: "GET", form: null, failed: false });
    return;
  }
  if (method === "POST" && !response.redirected) {
    // A form answered in place (its mistakes shown): the address stays the form's page,
    // so back, forward and reload ask for that page with GET, never the POST-only action.
    await swap(doc, new URL(location.href), { mode: "replace", scroll, id });
    done(mine);
    return;
  }
  await swap(doc, shown, { mode, scroll, id });
  done(mine);
}

function done(mine) {
  if (mine === controller) {
    controller = null;
    setBusy(false);
  }
}

function setBusy(busy) {
  if (busy) {
    document.documentElement.dataset.softNav = "loading";
    main.setAttribute("aria-busy", "true");
  } else {
    delete document.documentElement.dataset.softNav;
    main.removeAttribute("aria-busy");
  }
}

/** A real load of `url`; during a live call, a message and the agent's choice instead. */
function fallBack(url, { method, form, failed, retry }) {
  if (!callIsLive()) {
    // A form that could not be sent softly is sent the ordinary way (no submit event).
    if (failed && method === "POST" && form) HTMLFormElement.prototype.submit.call(form);
    else location.assign(url);
    return;
  }
  showNotice(failed ? words.failed_in_call : words.reload_in_call, failed ? { retry } : { url });
}

// -- swapping ------------------------------------------------------------------------

async function swap(doc, url, { mode, scroll, id }) {
  const fresh = doc.getElementById("content");
  const scripts = pageScripts(doc); // before the content's own <script>s are taken out
  await syncStylesheets(doc, url);
  if (mode === "push") {
    shownId = nextEntryId();
    history.pushState({ softNavId: shownId, scroll: 0 }, "", url.href);
  } else if (mode === "replace") {
    history.replaceState({ softNavId: shownId, scroll: 0 }, "", url.href);
  } else {
    shownId = id ?? nextEntryId();
    history.replaceState({ ...(history.state || {}), softNavId: shownId }, "");
  }
  shownUrl = withoutHash(url.href);

  leavePage();
  // Scripts in the content run through soft-nav-page.js, never as parsed nodes.
  for (const script of fresh.querySelectorAll("script")) script.remove();
  main.replaceChildren(...[...fresh.childNodes].map((node) => document.adoptNode(node)));
  for (const name of ["class", "data-page"]) {
    if (fresh.hasAttribute(name)) main.setAttribute(name, fresh.getAttribute(name));
    else main.removeAttribute(name);
  }
  document.title = doc.title;
  syncTopBar(doc);
  placeFocusAndScroll(url, mode === "none" ? scroll : 0);
  await enterPage(scripts);
  document.dispatchEvent(new CustomEvent("soft-nav:load", { detail: { url: url.href } }));
}

/** Add the new page's stylesheets (before showing it, so it never flashes unstyled)
 * and drop the ones it does not use. */
async function syncStylesheets(doc, base) {
  const wanted = new Set([...doc.head.querySelectorAll('link[rel="stylesheet"][href]')]
    .map((link) => new URL(link.getAttribute("href"), base).href));
  const have = new Map([...document.head.querySelectorAll('link[rel="stylesheet"][href]')]
    .map((link) => [link.href, link]));
  const loads = [];
  for (const href of wanted) {
    if (have.has(href)) continue;
    const link = Object.assign(document.createElement("link"), { rel: "stylesheet", href });
    loads.push(new Promise((resolve) => {
      link.addEventListener("load", resolve, { once: true });
      link.addEventListener("error", resolve, { once: true });
      setTimeout(resolve, STYLE_LOAD_TIMEOUT_MS);
    }));
    document.head.append(link);
  }
  await Promise.all(loads);
  for (const [href, link] of have) if (!wanted.has(href)) link.remove();
}

/** The top bar stays; its "you are here" marks and the missed-call count (which the
 * page just changed, perhaps) follow the new page. */
function syncTopBar(doc) {
  const current = new Map([...doc.querySelectorAll(".topbar a[href]")]
    .map((link) => [link.getAttribute("href"), link.getAttribute("aria-current")]));
  for (const link of document.querySelectorAll(".topbar a[href]")) {
    const mark = current.get(link.getAttribute("href"));
    if (mark) link.setAttribute("aria-current", mark);
    else link.removeAttribute("aria-current");
  }
  const badge = document.querySelector(".topbar [data-missed-badge]");
  const fresh = doc.querySelector(".topbar [data-missed-badge]");
  if (badge && fresh) {
    badge.replaceChildren(...[...fresh.childNodes].map((node) => document.adoptNode(node)));
    badge.hidden = fresh.hidden;
  }
}

/** Keyboard and screen-reader users land on the new page's heading (or the field to
 * fix, when a form came back with errors), as after a real load. */
function placeFocusAndScroll(url, scroll) {
  const target = main.querySelector("[autofocus]") || main.querySelector("h1") || main;
  if (!target.hasAttribute("tabindex") && !target.matches("a[href], button, input, select, textarea")) {
    target.setAttribute("tabindex", "-1");
  }
  target.focus({ preventScroll: true });
  const anchor = url.hash ? document.getElementById(decodeURIComponent(url.hash.slice(1))) : null;
  if (anchor) anchor.scrollIntoView();
  else window.scrollTo(0, scroll);
}

// -- the in-call message ---------------------------------------------------------------

function clearNotice() {
  const old = document.getElementById("soft-nav-notice");
  if (old) old.remove();
}

function showNotice(text, { retry, url }) {
  clearNotice();
  const box = document.createElement("div");
  box.id = "soft-nav-notice";
  box.className = "alert soft-nav-notice";
  box.setAttribute("role", "alert");
  const message = document.createElement("p");
  message.textContent = text || "";
  const actions = document.createElement("p");
  actions.className = "soft-nav-notice__actions";
  if (retry) {
    const again = document.createElement("button");
    again.type = "button";
    again.className = "button";
    again.dataset.action = "soft-nav-retry";
    again.textContent = words.try_again || "Try again";
    again.addEventListener("click", retry);
    actions.append(again);
  } else {
    const open = document.createElement("a");
    open.className = "button";
    open.href = url;
    open.dataset.hardNav = "";
    open.dataset.action = "soft-nav-open";
    open.textContent = words.open_anyway || "Open";
    actions.append(open);
  }
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "button-link";
  dismiss.textContent = words.dismiss || "Dismiss";
  dismiss.addEventListener("click", clearNotice);
  actions.append(dismiss);
  box.append(message, actions);
  main.prepend(box);
}

// -- start -----------------------------------------------------------------------------

if (main && shellKey) {
  adoptScripts(pageScripts(document));
  history.scrollRestoration = "manual";
  history.replaceState({ ...(history.state || {}), softNavId: shownId, scroll: window.scrollY }, "");
  document.addEventListener("click", onClick);
  document.addEventListener("submit", onSubmit);
  window.addEventListener("popstate", onPopState);
  window.addEventListener("scroll", onScroll, { passive: true });
}
