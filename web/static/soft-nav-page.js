// Page scripts under soft navigation (soft-nav.js): how they start and stop.
//
// Moving between CRM pages swaps <main> instead of loading a new document, so the
// softphone and its call audio never stop. A page's script therefore runs several times
// in one document, and must stop its timers and listeners when its page is left:
//
//   import { definePage } from "./soft-nav-page.js";
//   definePage(import.meta.url, (main) => {
//     const timer = setInterval(tick, 1000);
//     return () => clearInterval(timer);   // the page is being left
//   });
//
// `start(main)` runs at once for the page that loaded the script, and again each time a
// page that lists the script is shown; what it returns runs when that page is left. A
// script that does not call definePage is imported again as a fresh module instance on
// every visit (it works, but whatever it leaves running keeps running).

const registry = new Map(); // module URL without query -> start
const running = new Map(); // module URL -> stop, for the page on screen
const evaluated = new Set(); // module URLs the document has already run once
let visit = 0;

function moduleKey(url) {
  const parsed = new URL(url, location.href);
  parsed.search = "";
  parsed.hash = "";
  return parsed.href;
}

function run(key, start) {
  let stop = null;
  try {
    stop = start(document.getElementById("content"));
  } catch (error) {
    console.error(`page script ${key} failed to start`, error);
  }
  running.set(key, typeof stop === "function" ? stop : () => {});
}

/** Register a page script's `start(main) -> stop`, and start it for the page on screen. */
export function definePage(url, start) {
  const key = moduleKey(url);
  registry.set(key, start);
  evaluated.add(key);
  if (!running.has(key)) run(key, start);
}

/** Stop every page script of the page on screen (soft-nav.js calls it before a swap). */
export function leavePage() {
  for (const [key, stop] of running) {
    try {
      stop();
    } catch (error) {
      console.error(`page script ${key} failed to stop`, error);
    }
  }
  running.clear();
}

/** The scripts the first document ran through its own <script> tags. */
export function adoptScripts(urls) {
  for (const url of urls) evaluated.add(moduleKey(url));
}

/** Start the page scripts `urls` of a page just swapped in. */
export async function enterPage(urls) {
  visit += 1;
  for (const url of urls) {
    const key = moduleKey(url);
    const start = registry.get(key);
    if (start) {
      if (!running.has(key)) run(key, start);
      continue;
    }
    // First time here (definePage starts it as it loads), or a script without the
    // contract, which only runs again as a new module instance.
    const target = evaluated.has(key) ? `${key}?page=${visit}` : key;
    evaluated.add(key);
    try {
      await import(target);
    } catch (error) {
      console.error(`page script ${key} could not be loaded`, error);
    }
  }
}
