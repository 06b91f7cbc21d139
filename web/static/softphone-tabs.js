// The agent's tabs: this tab's id for the server, a hint between tabs, and "The phone is
// open in another tab".
//
// The server decides which tab owns the agent's line (gateway/line_owner.py) by the id
// each tab keeps in sessionStorage, and says so with `line_owner` events. Two things the
// server cannot see happen here:
//
// - Chrome's "Duplicate tab" copies sessionStorage, so the copy would present the same
//   id and take the line as if it were the original reloading. At start-up a tab that
//   finds an id it did not leave behind on its own `pagehide` (a reload or a real page
//   load sets a mark there) asks the other tabs over a BroadcastChannel whether one of
//   them is using that id; if one answers, this tab is a copy and makes a new id.
// - A tab that gains the line says so on the same channel, so another tab that still
//   thought it owned it stops its audio at once, before (or without, if its socket is
//   deaf) the server's own `line_owner` event. The server stays the decider: its next
//   event corrects a tab either way, and "Use here" from a tab the server still counts
//   as owner makes it send the line again.
//
// LineOwnerPanel shows a tab that does not own the line, with a "Use here" button that
// moves the line (and a live call's audio) to this tab.
//
// Strings come from the page (web/locales/<lang>/navigation.json, rendered by base.html
// into #headset-navigation-words). Test hooks: the softphone root's data-line-owner
// ("here" | "elsewhere") and [data-action=use-here].

import { h } from "./dom.js";

const TAB_KEY = "headset.tab";
// Set on pagehide: the next document in this tab is the same tab (reload, page load).
const LEAVING_KEY = "headset.tab.leaving";
const CHANNEL = "headset.tabs";
// How long a tab that found a copied-looking id waits for another tab to claim it. Tabs
// of one browser answer within a few milliseconds; only a duplicate or a tab restored
// after a crash waits at all.
const ASK_MS = 300;

function stored(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key, value) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

// crypto.randomUUID needs a secure context; a page on plain http:// over the LAN has none.
function newId() {
  try {
    return crypto.randomUUID();
  } catch {
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  }
}

/**
 * This tab's identity among the agent's tabs and the BroadcastChannel between them.
 * `claim()` resolves to the id to give the server ("" when storage is refused: the server
 * then treats each socket as a new tab); `gained(user)` tells the other tabs this one
 * took the line; `onTaken` is called when another tab of `user` took it.
 */
export class TabLink {
  constructor() {
    this.id = "";
    this.user = "";
    this.onTaken = null;
    this.lastGained = 0;
    this.asking = null;
    try {
      this.channel = new BroadcastChannel(CHANNEL);
      this.channel.onmessage = (event) => this.receive(event.data);
    } catch {
      this.channel = null; // no BroadcastChannel: the server alone tells tabs apart
    }
    this.onHide = () => store(LEAVING_KEY, "1");
    this.onShow = () => store(LEAVING_KEY, null); // back from the back/forward cache
    addEventListener("pagehide", this.onHide);
    addEventListener("pageshow", this.onShow);
  }

  async claim() {
    let id = stored(TAB_KEY);
    const sameTab = stored(LEAVING_KEY) !== null;
    store(LEAVING_KEY, null);
    if (id && !sameTab && this.channel && await this.askOthers(id)) id = null;
    if (!id) {
      id = newId();
      if (!store(TAB_KEY, id)) id = "";
    }
    this.id = id;
    return id;
  }

  /** Whether another live tab answers that `id` is its own. */
  askOthers(id) {
    return new Promise((resolve) => {
      const nonce = newId();
      const timer = setTimeout(() => {
        this.asking = null;
        resolve(false);
      }, ASK_MS);
      this.asking = {
        nonce, answered: () => {
          clearTimeout(timer);
          this.asking = null;
          resolve(true);
        },
      };
      this.channel.postMessage({ type: "who", id, nonce });
    });
  }

  receive(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "who" && this.id && message.id === this.id) {
      this.channel.postMessage({ type: "mine", nonce: message.nonce });
    } else if (message.type === "mine" && this.asking && message.nonce === this.asking.nonce) {
      this.asking.answered();
    } else if (message.type === "line_taken" && message.by !== this.id && this.user
               && message.user === this.user && Number(message.at) > this.lastGained && this.onTaken) {
      // Newer than our own gain: a hint older than it would undo the server's word.
      this.onTaken();
    }
  }

  gained(user) {
    this.user = user;
    this.lastGained = Date.now();
    if (this.channel) this.channel.postMessage({ type: "line_taken", by: this.id, user, at: this.lastGained });
  }

  close() {
    removeEventListener("pagehide", this.onHide);
    removeEventListener("pageshow", this.onShow);
    if (this.asking) this.asking.answered();
    if (this.channel) this.channel.close();
  }
}

function readWords() {
  const block = document.getElementById("headset-navigation-words");
  try {
    return JSON.parse((block && block.textContent) || "{}");
  } catch {
    return {};
  }
}

export class LineOwnerPanel {
  constructor(softphone) {
    this.sp = softphone;
    const words = readWords();
    const titleId = "sp-elsewhere-title";
    this.button = h("button", {
      type: "button", class: "sp-btn sp-btn--primary sp-elsewhere__use", dataset: { action: "use-here" },
      "aria-label": words.use_here_aria || words.use_here || "Use here",
      onclick: () => softphone.useHere(),
    }, words.use_here || "Use here");
    this.el = h("div", { class: "sp-elsewhere", role: "status", "aria-labelledby": titleId, hidden: true },
      h("p", { class: "sp-elsewhere__title", id: titleId }, words.elsewhere_title || ""),
      h("p", { class: "sp-elsewhere__body" }, words.elsewhere_body || ""),
      this.button);
    const head = softphone.root.querySelector(".sp-head");
    if (head) head.after(this.el);
    else softphone.root.prepend(this.el);
    this.onOwner = () => this.update();
    softphone.root.addEventListener("softphone:line_owner", this.onOwner);
    this.update();
  }

  update() {
    this.el.hidden = this.sp.lineOwner !== "elsewhere";
    this.button.disabled = !this.sp.socketOpen;
  }

  destroy() {
    this.sp.root.removeEventListener("softphone:line_owner", this.onOwner);
    this.el.remove();
  }
}
