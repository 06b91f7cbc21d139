// The call's quality in the softphone: "Good / Fair / Poor" from the server's `quality`
// events (every ~2 s while a call is connected, gateway/quality.py), with each leg's
// figures one click (or hover) away. The grade shown is the worse of the two legs: the
// agent hears the browser leg, the customer hears both.
//
// Test hooks: .sp-quality[data-grade][data-call-id].

import { liveRow } from "./softphone-devices.js";

const RANK = { good: 0, fair: 1, poor: 2 };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

/** The worse grade of the legs present, or "" when neither has figures. */
export function worstGrade(event) {
  const grades = [event.browser, event.sip].filter(Boolean).map((leg) => leg.grade).filter((g) => g in RANK);
  return grades.sort((a, b) => RANK[b] - RANK[a])[0] || "";
}

export class QualityBadge {
  constructor(softphone) {
    this.sp = softphone;
    const t = softphone.t;
    this.summary = el("summary", { class: "sp-quality__summary" });
    this.figures = el("dl", { class: "sp-quality__figures" });
    this.el = el("details", { class: "sp-quality", hidden: true }, this.summary, this.figures);
    liveRow(softphone.root).append(this.el);
    this.label = t("quality_label");
    this.onQuality = (event) => this.update(event.detail || {});
    this.onCall = (event) => {
      const detail = event.detail || {};
      if (detail.state !== "connected" && detail.call_id === this.el.dataset.callId) this.clear();
    };
    softphone.root.addEventListener("softphone:quality", this.onQuality);
    softphone.root.addEventListener("softphone:call", this.onCall);
  }

  update(event) {
    const grade = worstGrade(event);
    const call = this.sp.calls.get(String(event.call_id || ""));
    if (!grade || !call || call.state !== "connected") return;
    const t = this.sp.t;
    const number = (value, digits = 0) => new Intl.NumberFormat(t.lang, { maximumFractionDigits: digits }).format(value);
    const rows = [];
    for (const name of ["browser", "sip"]) {
      const leg = event[name];
      if (!leg) continue;
      const parts = [
        t("quality_mos", { mos: number(leg.mos, 1) }),
        t("quality_jitter", { ms: number(leg.jitter_ms) }),
        t("quality_loss", { pct: number(leg.loss_pct, 1) }),
        leg.rtt_ms == null ? null : t("quality_rtt", { ms: number(leg.rtt_ms) }),
      ].filter(Boolean);
      rows.push(el("dt", {}, t(`quality_leg_${name}`)), el("dd", {}, parts.join(" · ")));
    }
    this.el.dataset.callId = call.call_id;
    this.el.dataset.grade = grade;
    this.summary.textContent = `${this.label}: ${t(`quality_${grade}`)}`;
    this.figures.replaceChildren(...rows);
    this.el.title = [...this.figures.children].map((node) => node.textContent).join("\n");
    this.el.hidden = false;
  }

  clear() {
    this.el.hidden = true;
    this.el.open = false;
    this.el.dataset.grade = "";
    this.el.dataset.callId = "";
  }

  destroy() {
    this.sp.root.removeEventListener("softphone:quality", this.onQuality);
    this.sp.root.removeEventListener("softphone:call", this.onCall);
  }
}
