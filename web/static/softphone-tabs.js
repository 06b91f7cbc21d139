// "The phone is open in another tab": what the softphone shows in a tab that does not
// own the agent's line, with a "Use here" button that moves the line (and a live call's
// audio) to this tab. The server decides which tab owns the line
// (gateway/line_owner.py) and says so with `line_owner` events; this only shows it.
//
// Strings come from the page (web/locales/<lang>/navigation.json, rendered by base.html
// into #headset-navigation-words). Test hooks: the softphone root's data-line-owner
// ("here" | "elsewhere") and [data-action=use-here].

import { h } from "./dom.js";

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
