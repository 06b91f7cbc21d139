// The Headset softphone: one component that owns the tab's WebSocket to /ws and its one
// persistent RTCPeerConnection ("the line") to the server's line worker.
//
// Theory of operation. The server is the source of truth (DESIGN.md, decision 2): the
// component sends commands and renders the events it gets back; it never assumes a
// command worked. The only local decisions are about this tab's media: going online
// grabs the microphone and offers a peer connection; a `line` event that says the line is
// up while the tab has no peer connection (a reload, decision 3) re-attaches one; a
// refused `offer`, a line going offline or failing, or going offline tears media down.
// On a reconnect of the socket nothing is replayed: the server answers `hello` and then
// reports the line and the live calls.
//
// One tab owns the agent's line (the server decides: gateway/line_owner.py). The socket
// names this tab (`?tab=`, kept in sessionStorage so a reload is the same tab); a tab told
// `line_owner` here=false drops its media and shows "open in another tab" until the agent
// presses "Use here" (softphone-tabs.js), which sends `take_line`.
//
// Protocol: gateway/signalling.py (v 1). Test hooks and product API: the root element's
// data-line-state, data-call-state, data-call-id, data-pc-state, data-socket-state,
// data-line-owner and data-blocking-call (the call to finish before the next one, from
// the `work` event),
// buttons' data-action, the `softphone:*` DOM events, and `pc` / `remoteStream`.

import { DeviceSettings } from "./softphone-devices.js";
import { h } from "./dom.js";
import { translator } from "./softphone-i18n.js";
import { QualityBadge } from "./softphone-quality.js";
import { Ringer } from "./softphone-ringer.js";
import { Shortcuts } from "./softphone-shortcuts.js";
import { LineOwnerPanel, TabLink } from "./softphone-tabs.js";

const PROTOCOL_VERSION = 1;
const ICE_GATHER_TIMEOUT_MS = 3000;
const PING_INTERVAL_MS = 25000;
const PONG_TIMEOUT_MS = 10000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;
const ENDED_SHOWN_MS = 4000;
const NOTICE_SHOWN_MS = 8000;
const MAX_TARGET_LENGTH = 64; // signalling.MAX_TARGET_LENGTH
const KEYPAD = [
  ["1", ""], ["2", "ABC"], ["3", "DEF"],
  ["4", "GHI"], ["5", "JKL"], ["6", "MNO"],
  ["7", "PQRS"], ["8", "TUV"], ["9", "WXYZ"],
  ["*", ""], ["0", "+"], ["#", ""],
];
const LIVE_CALL_STATES = new Set(["dialing", "ringing", "connected"]);

// -- icons -----------------------------------------------------------------------------

const ICONS = {
  phone: "M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z",
  backspace: "M22 5H8.5L2 12l6.5 7H22zM11 9l6 6m0-6-6 6",
  mic: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3",
  micOff: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3M3 3l18 18",
  headset: "M4 14v-2a8 8 0 0 1 16 0v2M4 14h3v6H5a1 1 0 0 1-1-1zm16 0h-3v6h2a1 1 0 0 0 1-1z",
};

function icon(name, { filled = false, className = "" } = {}) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `sp-icon ${filled ? "sp-icon--filled" : ""} ${className}`.trim());
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = String(Math.floor((total % 3600) / 60)).padStart(2, "0");
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${minutes}:${seconds}` : `${minutes}:${seconds}`;
}

/** Resolve once ICE gathering completes, or after `timeoutMs` with what was gathered. */
function iceGatheringDone(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === "complete") finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

function rtcIceServers(servers) {
  if (!Array.isArray(servers)) return [];
  return servers
    .filter((server) => server && Array.isArray(server.urls) && server.urls.length)
    .map(({ urls, username, credential }) => ({
      urls,
      ...(username ? { username } : {}),
      ...(credential ? { credential } : {}),
    }));
}

function micErrorKey(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "mic_denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "mic_not_found";
  return "mic_failed";
}

// -- one call's card ---------------------------------------------------------------------

class CallCard {
  constructor(softphone, callId) {
    this.sp = softphone;
    const t = softphone.t;
    const action = (name, className, label, iconName) =>
      h("button", { type: "button", class: `sp-btn ${className}`, dataset: { action: name, callId } },
        iconName ? icon(iconName, { filled: iconName === "phone" }) : null, h("span", {}, label));

    this.stateLabel = h("span", { class: "sp-call__state" });
    this.direction = h("span", { class: "sp-call__direction" });
    this.timer = h("span", { class: "sp-call__timer", role: "timer", "aria-label": t("call_duration") });
    this.name = h("p", { class: "sp-call__name" });
    this.number = h("p", { class: "sp-call__number" });
    this.outcome = h("p", { class: "sp-call__outcome" });
    // Caller ID from the CRM: the contact, a choice between several, or "new contact".
    this.contactLink = h("a", { class: "sp-call__contact", dataset: { action: "contact" } });
    this.answerBtn = action("answer", "sp-btn--go", t("answer"), "phone");
    this.rejectBtn = action("reject", "sp-btn--stop", t("reject"), "phone");
    this.rejectBtn.querySelector(".sp-icon").classList.add("sp-icon--hangup");
    this.hangupBtn = action("hangup", "sp-btn--stop", t("hangup"), "phone");
    this.hangupBtn.querySelector(".sp-icon").classList.add("sp-icon--hangup");
    // A toggle keeps its label; aria-pressed, the icon and the "Muted" badge say the state.
    this.muteBtn = action("mute", "sp-btn--quiet", t("mute"), "mic");
    this.muteBtn.setAttribute("aria-pressed", "false");
    this.muteBtn.setAttribute("aria-label", t("mute_aria"));
    this.muteBtn.prepend(icon("micOff", { className: "sp-icon--pressed" }));
    this.mutedBadge = h("span", { class: "sp-call__muted" }, t("muted"));
    this.holdBtn = action("hold", "sp-btn--quiet", t("hold"), null);
    this.holdBtn.setAttribute("aria-pressed", "false");
    this.heldBadge = h("span", { class: "sp-call__muted" }, t("on_hold"));
    this.transferBtn = action("transfer", "sp-btn--quiet", t("transfer"), null);
    this.transferBtn.setAttribute("aria-expanded", "false");
    this.transferInput = h("input", {
      type: "tel", class: "sp-input", inputmode: "tel", autocomplete: "off",
      maxlength: MAX_TARGET_LENGTH, placeholder: t("transfer_placeholder_short"),
      "aria-label": t("transfer_placeholder"),
    });
    this.transferForm = h("form", { class: "sp-transfer", hidden: true, dataset: { callId } },
      this.transferInput,
      h("button", { type: "submit", class: "sp-btn sp-btn--go", dataset: { action: "transfer-send", callId } },
        h("span", {}, t("transfer_send"))),
      // Attended transfer: talk to the target first, the caller waits on hold.
      h("button", { type: "button", class: "sp-btn sp-btn--quiet", dataset: { action: "consult", callId },
        "aria-label": t("consult_placeholder") }, h("span", {}, t("consult"))));
    this.transferForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const target = this.transferInput.value.trim();
      if (!target) return;
      softphone.transfer(callId, target);
      this.transferForm.hidden = true;
      this.transferBtn.setAttribute("aria-expanded", "false");
    });

    this.completeBtn = action("consult-complete", "sp-btn--go", t("consult_complete"), null);
    this.backBtn = action("consult-back", "sp-btn--quiet", t("consult_back"), null);
    this.conferenceBtn = action("consult-conference", "sp-btn--quiet", t("conference"), null);

    this.el = h("article", { class: "sp-call", dataset: { callId } },
      h("header", { class: "sp-call__head" }, this.stateLabel, this.direction, this.mutedBadge, this.heldBadge, this.timer),
      this.name, this.number, this.contactLink, this.outcome,
      h("div", { class: "sp-call__actions" }, this.rejectBtn, this.answerBtn, this.muteBtn, this.holdBtn,
        this.transferBtn, this.completeBtn, this.conferenceBtn, this.backBtn, this.hangupBtn),
      this.transferForm);
  }

  /** The target typed in the transfer form, for a consult call ("" if none). */
  consultTarget() {
    const target = this.transferInput.value.trim();
    if (target) {
      this.transferForm.hidden = true;
      this.transferBtn.setAttribute("aria-expanded", "false");
    }
    return target;
  }

  toggleTransfer() {
    const open = this.transferForm.hidden;
    this.transferForm.hidden = !open;
    this.transferBtn.setAttribute("aria-expanded", String(open));
    if (open) this.transferInput.focus();
  }

  update(call) {
    const t = this.sp.t;
    const live = LIVE_CALL_STATES.has(call.state);
    const ringingIn = call.state === "ringing" && call.direction === "inbound";
    const isEcho = call.remote && call.remote === this.sp.echoNumber;
    const name = call.remote_name || (isEcho ? t("echo_test_name") : "");
    const who = name || call.remote || t("unknown_number");

    this.el.dataset.state = call.state;
    this.el.dataset.direction = call.direction;
    this.el.dataset.reason = call.reason;
    this.el.classList.toggle("sp-call--incoming", ringingIn);
    this.stateLabel.textContent = t(
      call.state === "ringing" ? (call.direction === "inbound" ? "call_ringing_in" : "call_ringing_out")
        : `call_${call.state}`,
    );
    // A consult call shows what it is part of; in a conference both calls say so.
    const heldCall = call.consult_of ? this.sp.calls.get(call.consult_of) : call;
    const inConference = Boolean(heldCall) && heldCall.consult_state === "conference" && live;
    this.direction.textContent = ringingIn ? "" : inConference ? t("conference_label")
      : call.consult_of ? t("consult_label") : t(call.direction);
    this.name.textContent = name || call.remote || t("unknown_number");
    this.number.textContent = name ? call.remote : "";
    this.number.hidden = !this.number.textContent;
    this.outcome.textContent = call.state === "ended" ? this.sp.endedText(call.reason) : "";
    this.outcome.hidden = call.state !== "ended";
    this.timer.hidden = call.state !== "connected";
    const link = contactLink(call, isEcho, t);
    this.contactLink.hidden = !link;
    if (link) {
      this.contactLink.href = link.href;
      this.contactLink.textContent = link.text;
    }

    this.answerBtn.hidden = !ringingIn;
    this.rejectBtn.hidden = !ringingIn;
    this.hangupBtn.hidden = !live || ringingIn;
    this.muteBtn.hidden = call.state !== "connected";
    // The echo test has no far end to put on hold.
    this.holdBtn.hidden = call.state !== "connected" || isEcho;
    this.holdBtn.lastChild.textContent = call.held ? t("unhold") : t("hold");
    this.holdBtn.setAttribute("aria-pressed", String(Boolean(call.held)));
    this.holdBtn.setAttribute("aria-label", t(call.held ? "unhold_aria" : "hold_aria", { who }));
    this.heldBadge.hidden = !(call.held && call.state === "connected");
    // During a consult the held call offers its two ways out; a consult call is not
    // itself transferred.
    const consulting = Boolean(call.consult_state) && call.consult_state !== "none";
    this.transferBtn.hidden = call.state !== "connected" || isEcho || consulting || Boolean(call.consult_of);
    this.completeBtn.hidden = !live || call.consult_state !== "talking";
    this.conferenceBtn.hidden = this.completeBtn.hidden;
    this.backBtn.hidden = !live || !["dialing", "talking"].includes(call.consult_state);
    if (consulting || inConference) this.holdBtn.hidden = true;
    if (this.transferBtn.hidden) this.transferForm.hidden = true;
    this.answerBtn.setAttribute("aria-label", t("answer_aria", { who }));
    this.rejectBtn.setAttribute("aria-label", t("reject_aria", { who }));
    this.hangupBtn.setAttribute("aria-label", t("hangup_aria", { who }));
    this.hangupBtn.lastChild.textContent = call.state === "connected" ? t("hangup") : t("cancel");
    const muted = this.sp.muted && call.state === "connected";
    this.muteBtn.setAttribute("aria-pressed", String(muted));
    this.mutedBadge.hidden = !muted;
    for (const button of [this.answerBtn, this.rejectBtn, this.hangupBtn, this.muteBtn, this.holdBtn, this.transferBtn,
      this.completeBtn, this.backBtn, this.conferenceBtn]) {
      button.disabled = !this.sp.socketOpen;
    }
    this.tick(Date.now());
  }

  tick(now) {
    const call = this.sp.calls.get(this.el.dataset.callId);
    if (call && call.connectedAt) this.timer.textContent = formatDuration(now - call.connectedAt);
  }
}

// -- the component -----------------------------------------------------------------------

/**
 * The softphone panel.
 *
 * `new Softphone(root, options)` renders into `root` (an empty element); `start()` opens
 * the socket. Options: `wsUrl` (default same-origin `/ws`), `lang` (default `<html lang>`),
 * `iceGatherTimeoutMs`. Methods mirror the protocol: goOnline, goOffline, dial, testHeadset,
 * answer, reject, hangup; plus setMuted and destroy. The root element fires bubbling
 * `softphone:hello|line|call|error|audio|quality` CustomEvents whose `detail` is the event.
 */
/** Where the CRM can tell the agent more about the other party, or null. */
function contactLink(call, isEcho, t) {
  if (isEcho || !call.remote || call.state === "ended") return null;
  if (call.contact_id) return { href: `/contacts/${call.contact_id}`, text: t("open_contact") };
  const number = encodeURIComponent(call.remote);
  if (call.matches > 1) return { href: `/contacts?q=${number}`, text: t("choose_contact", { count: call.matches }) };
  if (call.direction === "inbound") return { href: `/contacts/new?number=${number}`, text: t("new_contact") };
  return null;
}

export class Softphone {
  constructor(root, options = {}) {
    this.root = root;
    this.options = options;
    this.t = translator(options.lang || document.documentElement.lang || "en");

    this.socket = null;
    this.socketState = "connecting"; // connecting | open | reconnecting
    this.attempt = 0;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.pongDeadline = null;
    this.destroyed = false;

    this.user = "";
    this.dialerAllowed = false;
    this.echoNumber = "";
    this.iceServers = [];
    // The numbers an admin allowed this agent to present; a choice only if several.
    this.callerIds = [];

    this.lineState = "offline";
    this.lineReason = "";
    // Whether this tab owns the agent's line ("here") or another tab does ("elsewhere").
    this.lineOwner = "here";
    // This tab's id and the hint from the agent's other tabs (softphone-tabs.js).
    this.tabs = new TabLink();
    this.tabs.onTaken = () => {
      if (this.lineOwner === "here") this.onLineOwner({ here: false, hint: true });
    };
    // The server's "finish this call first" (must-disposition policy); "" when free.
    this.blockingCallId = "";

    this.pc = null;
    this.mic = null;
    this.remoteStream = null;
    this.pcState = "none";
    this.mediaAttempt = 0; // bumps on every start/stop; a stale async step sees it and bails
    this.mediaStarting = false;
    this.muted = false;

    this.calls = new Map(); // call_id -> call event fields + seenAt, connectedAt
    this.cards = new Map(); // call_id -> CallCard
    this.endedTimers = new Map();
    this.tickTimer = null;
    this.noticeTimer = null;
    this.ringtone = new Ringer(this);

    this.build();
    this.render();
    // Each feature in its own module, hooked to the panel and the softphone:* events.
    this.shortcuts = new Shortcuts(this);
    this.devices = new DeviceSettings(this, this.ringtone, this.shortcuts);
    this.quality = new QualityBadge(this);
    this.ownerPanel = new LineOwnerPanel(this);
  }

  // -- public API --------------------------------------------------------------------

  get socketOpen() {
    return this.socketState === "open";
  }

  /** The call the panel is about: the latest live call, else one just ended, else null. */
  get currentCall() {
    let best = null;
    for (const call of this.calls.values()) {
      const rank = (c) => (LIVE_CALL_STATES.has(c.state) ? 1 : 0);
      if (!best || rank(call) > rank(best) || (rank(call) === rank(best) && call.seenAt >= best.seenAt)) best = call;
    }
    return best;
  }

  start() {
    // The tab's id first: a duplicated tab must not present the original's (softphone-tabs.js).
    this.tabs.claim().catch(() => "").then(() => this.connect());
    return this;
  }

  async goOnline() {
    if (!this.send({ type: "online" })) return;
    await this.startMedia({ userAction: true });
  }

  goOffline() {
    this.send({ type: "offline" });
    this.stopMedia();
  }

  /** "Use here": take the agent's line (and a live call's audio) from the other tab. */
  useHere() {
    return this.send({ type: "take_line" });
  }

  dial(target) {
    const number = String(target ?? "").trim();
    if (!number || number.length > MAX_TARGET_LENGTH) {
      this.notice(this.t("error_invalid_number"));
      return false;
    }
    if (this.blockingCallId && number !== this.echoNumber) {
      // The server would refuse it too; say why without a round trip.
      this.notice(this.t("error_disposition_required"));
      this.emit("open-work", { call_id: this.blockingCallId });
      return false;
    }
    return this.send({ type: "dial", target: number, caller_id: this.chosenCallerId() });
  }

  testHeadset() {
    return this.echoNumber ? this.dial(this.echoNumber) : false;
  }

  answer(callId) {
    this.ringtone.stop();
    return this.send({ type: "answer", call_id: callId });
  }

  reject(callId) {
    this.ringtone.stop();
    return this.send({ type: "reject", call_id: callId });
  }

  hangup(callId) {
    return this.send({ type: "hangup", call_id: callId });
  }

  hold(callId) {
    return this.send({ type: "hold", call_id: callId });
  }

  /** Blind transfer: the caller is sent on to `target` and this call ends. */
  transfer(callId, target) {
    return this.send({ type: "transfer", call_id: callId, target: String(target) });
  }

  /** Attended transfer: hold `callId` and call `target`; then consultComplete or consultBack. */
  consult(callId, target) {
    return this.send({ type: "consult", call_id: callId, target: String(target) });
  }

  consultComplete(callId) {
    return this.send({ type: "consult_complete", call_id: callId });
  }

  consultBack(callId) {
    return this.send({ type: "consult_back", call_id: callId });
  }

  /** 3-way: the held caller, the consulted target and the agent all talk together. */
  consultConference(callId) {
    return this.send({ type: "consult_conference", call_id: callId });
  }

  unhold(callId) {
    return this.send({ type: "unhold", call_id: callId });
  }

  /** Keypad tones on a connected call (RFC 4733 on the SIP side). */
  sendDtmf(callId, digits) {
    return this.send({ type: "dtmf", call_id: callId, digits: String(digits) });
  }

  connectedCall() {
    return [...this.calls.values()].find((call) => call.state === "connected") || null;
  }

  /** Mute is local: it silences this tab's microphone track on the line. */
  setMuted(muted) {
    this.muted = Boolean(muted);
    if (this.mic) for (const track of this.mic.getAudioTracks()) track.enabled = !this.muted;
    this.render();
  }

  /** Close the socket and media without telling the server: calls outlive pages. */
  destroy() {
    this.destroyed = true;
    clearTimeout(this.reconnectTimer);
    this.stopPing();
    if (this.socket) this.socket.close(1000);
    this.stopMedia();
    this.ringtone.close();
    this.shortcuts.destroy();
    this.devices.destroy();
    this.quality.destroy();
    this.ownerPanel.destroy();
    this.tabs.close();
    clearInterval(this.tickTimer);
    clearTimeout(this.noticeTimer);
    for (const timer of this.endedTimers.values()) clearTimeout(timer);
    this.root.replaceChildren();
  }

  // -- socket ------------------------------------------------------------------------

  wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = new URL(this.options.wsUrl ? new URL(this.options.wsUrl, location.href).href.replace(/^http/, "ws")
      : `${scheme}//${location.host}/ws`);
    if (this.tabs.id) url.searchParams.set("tab", this.tabs.id);
    return url.href;
  }

  connect() {
    if (this.destroyed) return;
    const socket = new WebSocket(this.wsUrl());
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.setSocketState("open");
      this.startPing();
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(event.data);
    });
    socket.addEventListener("close", () => {
      if (socket !== this.socket) return;
      this.stopPing();
      this.socket = null;
      if (this.destroyed) return;
      this.setSocketState("reconnecting");
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
      this.attempt += 1;
      this.reconnectTimer = setTimeout(() => this.connect(), ceiling / 2 + Math.random() * (ceiling / 2));
    });
  }

  setSocketState(state) {
    if (state === this.socketState) return;
    this.socketState = state;
    this.render();
  }

  send(command) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ v: PROTOCOL_VERSION, ...command }));
    return true;
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      this.pongDeadline ??= setTimeout(() => this.socket && this.socket.close(4000, "no pong"), PONG_TIMEOUT_MS);
    }, PING_INTERVAL_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongDeadline);
    this.pingTimer = null;
    this.pongDeadline = null;
  }

  receive(text) {
    // Any traffic proves the socket alive.
    clearTimeout(this.pongDeadline);
    this.pongDeadline = null;
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      console.warn("softphone: ignoring a message that is not JSON");
      return;
    }
    if (!event || event.v !== PROTOCOL_VERSION) {
      console.warn("softphone: ignoring an event of another protocol version", event && event.v);
      return;
    }
    switch (event.type) {
      case "hello": this.onHello(event); break;
      case "line_owner": this.onLineOwner(event); break;
      case "line": this.onLine(event); break;
      case "answer_sdp": this.onAnswerSdp(event); break;
      case "call": this.onCall(event); break;
      case "error": this.onError(event); break;
      case "work": this.onWork(event); break;
      // The agent's working state: the status control (agent-status.js) listens.
      case "agent_state": this.emit("agent_state", event); break;
      case "caller_ids": this.onCallerIds(event); break;
      // Live call quality: softphone-quality.js and the call window listen.
      case "quality": this.emit("quality", event); break;
      case "pong": break;
      default: console.warn("softphone: ignoring unknown event", event.type);
    }
  }

  emit(name, detail) {
    this.root.dispatchEvent(new CustomEvent(`softphone:${name}`, { detail, bubbles: true }));
  }

  // -- events ------------------------------------------------------------------------

  onHello(event) {
    this.attempt = 0;
    this.user = String(event.user || "");
    this.dialerAllowed = Boolean(event.dialer);
    this.echoNumber = String(event.echo_number || "");
    this.iceServers = rtcIceServers(event.ice_servers);
    // A dead audio path is dropped so the line event that follows re-attaches a fresh one.
    if (this.pc && ["failed", "closed"].includes(this.pc.connectionState)) this.stopMedia();
    // The server reports the line and every live call after hello; what we showed
    // before a reconnect may be stale, so forget it.
    for (const timer of this.endedTimers.values()) clearTimeout(timer);
    this.endedTimers.clear();
    this.calls.clear();
    this.blockingCallId = "";
    this.render();
    this.emit("hello", event);
  }

  onLineOwner(event) {
    this.lineOwner = event.here === false ? "elsewhere" : "here";
    if (this.lineOwner === "here") this.tabs.gained(this.user);
    if (this.lineOwner === "elsewhere") {
      // The other tab has the line: nothing of it stays here (no audio, no ringing).
      this.stopMedia();
      for (const timer of this.endedTimers.values()) clearTimeout(timer);
      this.endedTimers.clear();
      this.calls.clear();
      this.blockingCallId = "";
      this.lineState = "offline";
      this.lineReason = "";
    }
    this.render();
    this.emit("line_owner", event);
  }

  onLine(event) {
    this.lineState = ["offline", "registering", "registered", "failed"].includes(event.state) ? event.state : "offline";
    this.lineReason = String(event.reason || "");
    if (this.lineState === "offline" || this.lineState === "failed") {
      this.stopMedia();
    } else if (this.lineReason === "line_reset" && !this.mediaStarting) {
      // The worker holding our audio path was restarted: the old connection is dead.
      this.startMedia({ userAction: false });
    } else if (!this.pc && !this.mediaStarting) {
      // The server holds a line for us but this tab has no audio path: re-attach.
      this.startMedia({ userAction: false });
    }
    this.render();
    this.emit("line", event);
  }

  async onAnswerSdp(event) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== "have-local-offer") {
      console.warn("softphone: answer_sdp without a pending offer; ignored");
      return;
    }
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: String(event.sdp || "") });
    } catch (error) {
      console.warn("softphone: the answer SDP was not accepted", error);
      if (pc === this.pc) this.setPcState("failed");
    }
  }

  onCall(event) {
    const callId = String(event.call_id || "");
    if (!callId || !(LIVE_CALL_STATES.has(event.state) || event.state === "ended")) {
      console.warn("softphone: ignoring a call event without a call id or a known state");
      return;
    }
    const previous = this.calls.get(callId);
    const call = {
      call_id: callId,
      state: event.state,
      direction: event.direction === "inbound" ? "inbound" : "outbound",
      remote: String(event.remote || ""),
      remote_name: String(event.remote_name || ""),
      reason: String(event.reason || ""),
      seenAt: performance.now(),
      connectedAt: previous ? previous.connectedAt : null,
      held: Boolean(event.held),
      contact_id: Number(event.contact_id) || 0,
      matches: Number(event.matches) || 0,
      consult_of: String(event.consult_of || ""),
      consult_state: String(event.consult_state || "none"),
    };
    if (call.state === "connected" && !call.connectedAt) call.connectedAt = Date.now();
    this.calls.set(callId, call);
    clearTimeout(this.endedTimers.get(callId));
    if (call.state === "ended") {
      this.endedTimers.set(callId, setTimeout(() => {
        this.endedTimers.delete(callId);
        this.calls.delete(callId);
        this.render();
      }, ENDED_SHOWN_MS));
    }
    if (call.state === "ringing" && call.direction === "inbound") {
      this.announce(`${this.t("call_ringing_in")}: ${call.remote_name || call.remote || this.t("unknown_number")}`);
    }
    this.render();
    this.emit("call", event);
  }

  onCallerIds(event) {
    this.callerIds = Array.isArray(event.numbers) ? event.numbers.map(String) : [];
    const keep = this.callerIdSelect.value;
    this.callerIdSelect.replaceChildren(...this.callerIds.map((number) => h("option", { value: number }, number)));
    if (this.callerIds.includes(keep)) this.callerIdSelect.value = keep;
    this.render();
  }

  /** The caller ID to present: the one chosen, the only one allowed, or "" (extension). */
  chosenCallerId() {
    if (this.callerIds.length > 1) return this.callerIdSelect.value;
    return this.callerIds[0] || "";
  }

  onWork(event) {
    this.blockingCallId = String(event.blocking_call_id || "");
    this.render();
    this.emit("work", event);
  }

  onError(event) {
    const code = String(event.code || "");
    const key = `error_${code}`;
    this.notice(this.t.has(key) ? this.t(key) : String(event.message || "") || this.t("error_unknown"));
    // A refused offer (or online, while the line is not up) means no line will come: free the mic.
    const lineUp = this.lineState === "registered" || this.lineState === "registering";
    if (event.ref === "offer" || (event.ref === "online" && !lineUp)) this.stopMedia();
    this.emit("error", event);
  }

  endedText(reason) {
    const key = `ended_${reason}`;
    return this.t.has(key) ? this.t(key) : this.t("ended_unknown");
  }

  // -- media -------------------------------------------------------------------------

  async startMedia({ userAction }) {
    this.stopMedia();
    const attempt = ++this.mediaAttempt;
    const fail = (key) => {
      if (attempt !== this.mediaAttempt) return;
      this.mediaStarting = false;
      this.notice(this.t(key));
      if (userAction) this.send({ type: "offline" });
      this.render();
    };
    if (!window.isSecureContext) return fail("insecure_context");
    if (!window.RTCPeerConnection || !navigator.mediaDevices) return fail("webrtc_unsupported");
    this.mediaStarting = true;
    this.setPcState("new");

    let mic;
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...this.devices.micConstraint() },
        video: false,
      });
    } catch (error) {
      this.setPcState("none");
      return fail(micErrorKey(error));
    }
    if (attempt !== this.mediaAttempt) {
      mic.getTracks().forEach((track) => track.stop());
      return;
    }
    this.mic = mic;
    this.muted = false;

    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc) this.setPcState(pc.connectionState);
    });
    pc.addEventListener("track", (event) => {
      if (pc !== this.pc) return;
      this.remoteStream = event.streams[0] || new MediaStream([event.track]);
      this.audio.srcObject = this.remoteStream;
      this.audio.play().catch(() => {}); // autoplay may wait for a click; the element keeps trying
      this.emit("audio", { remoteStream: this.remoteStream });
    });
    for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);

    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringDone(pc, this.options.iceGatherTimeoutMs ?? ICE_GATHER_TIMEOUT_MS);
    } catch (error) {
      console.warn("softphone: could not create an offer", error);
      if (attempt === this.mediaAttempt) this.setPcState("failed");
      this.mediaStarting = false;
      return;
    }
    if (attempt !== this.mediaAttempt) return;
    this.mediaStarting = false;
    this.send({ type: "offer", sdp: pc.localDescription.sdp });
    this.render();
  }

  stopMedia() {
    this.mediaAttempt += 1;
    this.mediaStarting = false;
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.mic) this.mic.getTracks().forEach((track) => track.stop());
    this.mic = null;
    this.remoteStream = null;
    if (this.audio) this.audio.srcObject = null;
    this.setPcState("none");
  }

  setPcState(state) {
    if (state === this.pcState) return;
    this.pcState = state;
    this.render();
  }

  // -- view --------------------------------------------------------------------------

  build() {
    const t = this.t;
    const root = this.root;
    root.classList.add("softphone");
    root.setAttribute("aria-label", t("panel_label"));
    root.setAttribute("lang", t.lang);

    this.statusText = h("span", { class: "sp-status__text" });
    this.status = h("span", { class: "sp-status" }, h("span", { class: "sp-status__dot", "aria-hidden": "true" }), this.statusText);
    this.onlineBtn = h("button", {
      type: "button", class: "sp-btn sp-btn--primary sp-btn--small", dataset: { action: "online" },
      onclick: () => this.goOnline(),
    });
    this.offlineBtn = h("button", {
      type: "button", class: "sp-btn sp-btn--quiet sp-btn--small", dataset: { action: "offline" },
      onclick: () => this.goOffline(),
    }, t("go_offline"));
    this.offlineBtn.setAttribute("aria-label", t("go_offline_aria"));
    this.userText = h("p", { class: "sp-user" });
    this.hint = h("span", { class: "sp-hint" });
    this.socketBanner = h("p", { class: "sp-banner", role: "status" });
    // "Finish your last call first": the call window (call-window.js) listens for
    // softphone:open-work and opens that call.
    this.workBanner = h("div", { class: "sp-work", role: "status", hidden: true },
      h("span", { class: "sp-work__text" }, t("work_blocked")),
      h("button", {
        type: "button", class: "sp-btn sp-btn--quiet sp-btn--small", dataset: { action: "open-work" },
        onclick: () => this.emit("open-work", { call_id: this.blockingCallId }),
      }, t("open_call_window")));

    this.noticeText = h("span", { class: "sp-notice__text" });
    this.noticeBox = h("div", { class: "sp-notice", role: "alert", hidden: true },
      this.noticeText,
      h("button", {
        type: "button", class: "sp-notice__close", dataset: { action: "dismiss" }, "aria-label": t("dismiss"),
        onclick: () => this.clearNotice(),
      }, "×"));
    this.liveRegion = h("p", { class: "sp-visually-hidden", "aria-live": "assertive" });

    this.callList = h("div", { class: "sp-calls" });
    this.callList.addEventListener("click", (event) => this.onCallAction(event));

    this.number = h("input", {
      id: "softphone-number", class: "sp-number", type: "tel", inputmode: "tel", autocomplete: "off",
      maxlength: MAX_TARGET_LENGTH, placeholder: t("number_placeholder"), spellcheck: "false",
    });
    this.number.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        this.dial(this.number.value);
      }
    });
    const backspace = h("button", {
      type: "button", class: "sp-icon-btn", dataset: { action: "backspace" }, "aria-label": t("backspace"),
      onclick: () => this.backspace(),
    }, icon("backspace"));
    this.keypad = this.buildKeypad();
    this.dialBtn = h("button", {
      type: "button", class: "sp-btn sp-btn--go sp-btn--wide", dataset: { action: "dial" }, "aria-label": t("call_aria"),
      onclick: () => this.dial(this.number.value),
    }, icon("phone", { filled: true }), h("span", {}, t("call")));
    this.echoBtn = h("button", {
      type: "button", class: "sp-btn sp-btn--link", dataset: { action: "echo-test" }, "aria-label": t("echo_test_aria"),
      onclick: () => this.testHeadset(),
    }, icon("headset"), h("span", {}, t("echo_test")));
    this.numberRow = h("div", { class: "sp-number-row" }, this.number, backspace);
    this.callerIdSelect = h("select", { id: "softphone-caller-id", class: "sp-caller-id__select" });
    this.callerIdRow = h("div", { class: "sp-caller-id", hidden: true },
      h("label", { for: "softphone-caller-id" }, t("caller_id_label")),
      this.callerIdSelect);
    this.dialer = h("div", { class: "sp-dialer" },
      h("label", { class: "sp-visually-hidden", for: "softphone-number" }, t("number_label")),
      this.numberRow,
      this.callerIdRow,
      this.keypad,
      this.dialBtn);

    this.audio = h("audio", { id: "softphone-remote-audio", autoplay: true });

    root.replaceChildren(
      h("header", { class: "sp-head" },
        h("div", { class: "sp-head__row" },
          h("h2", { class: "sp-title" }, t("title")),
          h("div", { class: "sp-head__actions" }, this.onlineBtn, this.offlineBtn)),
        h("p", { class: "sp-statusline", role: "status" }, this.status, this.hint),
        this.userText),
      this.socketBanner, this.workBanner, this.noticeBox, this.liveRegion, this.callList, this.dialer, this.echoBtn,
      this.audio);
  }

  buildKeypad() {
    const t = this.t;
    const keypad = h("div", { class: "sp-keypad", role: "group", "aria-label": t("keypad_label") });
    KEYPAD.forEach(([digit, letters], index) => {
      const spoken = digit === "*" ? t("digit_star") : digit === "#" ? t("digit_hash") : t("digit", { digit });
      keypad.append(h("button", {
        type: "button", class: "sp-key", dataset: { action: "digit", digit }, "aria-label": spoken,
        tabindex: index === 0 ? "0" : "-1", onclick: () => this.pressDigit(digit),
      }, h("span", { class: "sp-key__digit" }, digit), h("span", { class: "sp-key__letters", "aria-hidden": "true" }, letters)));
    });
    // One tab stop for the whole keypad; arrows move between keys (roving tabindex).
    keypad.addEventListener("keydown", (event) => {
      const keys = [...keypad.querySelectorAll(".sp-key")];
      const index = keys.indexOf(document.activeElement);
      if (index < 0) return;
      const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -3, ArrowDown: 3, Home: -index, End: keys.length - 1 - index };
      if (event.key in moves) {
        event.preventDefault();
        const next = keys[Math.min(keys.length - 1, Math.max(0, index + moves[event.key]))];
        keys.forEach((key) => key.setAttribute("tabindex", key === next ? "0" : "-1"));
        next.focus();
      } else if (/^[0-9*#]$/.test(event.key)) {
        event.preventDefault();
        this.pressDigit(event.key);
      } else if (event.key === "Backspace") {
        event.preventDefault();
        this.backspace();
      }
    });
    return keypad;
  }

  pressDigit(digit) {
    // On a connected call the keypad sends tones to the far end (menus, PINs).
    const call = this.connectedCall();
    if (call) {
      this.sendDtmf(call.call_id, digit);
      return;
    }
    const input = this.number;
    if (input.value.length >= MAX_TARGET_LENGTH) return;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    input.setRangeText(digit, start, end, "end");
  }

  backspace() {
    const input = this.number;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    if (start !== end) input.setRangeText("", start, end, "end");
    else if (start > 0) input.setRangeText("", start - 1, start, "end");
  }

  onCallAction(event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const callId = button.dataset.callId;
    switch (button.dataset.action) {
      case "answer": this.answer(callId); break;
      case "reject": this.reject(callId); break;
      case "hangup": this.hangup(callId); break;
      case "mute": this.setMuted(!this.muted); break;
      case "transfer": {
        const card = this.cards.get(callId);
        if (card) card.toggleTransfer();
        break;
      }
      case "hold": {
        const call = this.calls.get(callId);
        if (call) this.send({ type: call.held ? "unhold" : "hold", call_id: callId });
        break;
      }
      case "consult": {
        const target = this.cards.get(callId)?.consultTarget();
        if (target) this.consult(callId, target);
        break;
      }
      case "consult-complete": this.consultComplete(callId); break;
      case "consult-back": this.consultBack(callId); break;
      case "consult-conference": this.consultConference(callId); break;
      default: break;
    }
  }

  notice(text) {
    this.noticeText.textContent = text;
    this.noticeBox.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => this.clearNotice(), NOTICE_SHOWN_MS);
  }

  clearNotice() {
    clearTimeout(this.noticeTimer);
    this.noticeBox.hidden = true;
    this.noticeText.textContent = "";
  }

  announce(text) {
    this.liveRegion.textContent = text;
  }

  render() {
    if (!this.statusText) return;
    const t = this.t;
    const root = this.root;
    const open = this.socketOpen;
    const line = this.lineState;
    const lineUp = line === "registering" || line === "registered";
    const audioBroken = lineUp && (this.pcState === "failed" || (this.pcState === "none" && !this.mediaStarting));

    const current = this.currentCall;
    root.dataset.socketState = this.socketState;
    root.dataset.lineOwner = this.lineOwner;
    if (this.ownerPanel) this.ownerPanel.update();
    root.dataset.lineState = line;
    root.dataset.pcState = this.pcState;
    root.dataset.callState = current ? current.state : "idle";
    root.dataset.callId = current ? current.call_id : "";
    root.dataset.muted = String(this.muted);
    root.dataset.blockingCall = this.blockingCallId;

    this.status.dataset.tone = line === "registered" ? (audioBroken ? "warn" : "ok") : line === "failed" ? "bad" : line === "registering" ? "busy" : "off";
    this.statusText.textContent = t(`line_${line}`);
    this.userText.textContent = this.user ? t("signed_in_as", { user: this.user }) : "";
    this.userText.hidden = !this.user;

    let hint;
    if (line === "failed") hint = this.t.has(this.lineReason) ? t(this.lineReason) : t("reg_unknown");
    else if (audioBroken) hint = t("audio_failed");
    else if (this.pcState === "disconnected") hint = t("audio_disconnected");
    else if (lineUp && (this.mediaStarting || this.pcState === "new" || this.pcState === "connecting")) hint = t("audio_connecting");
    else if (this.lineReason && this.t.has(`reason_${this.lineReason}`)) hint = t(`reason_${this.lineReason}`);
    else hint = t(`line_${line}_hint`);
    this.hint.textContent = hint;
    this.hint.dataset.tone = line === "failed" || this.pcState === "failed" ? "bad" : "";

    this.onlineBtn.hidden = lineUp && !audioBroken;
    this.onlineBtn.textContent = lineUp ? t("reconnect_audio") : t("go_online");
    this.onlineBtn.setAttribute("aria-label", lineUp ? t("reconnect_audio") : t("go_online_aria"));
    this.offlineBtn.hidden = !lineUp;
    this.onlineBtn.disabled = !open || this.mediaStarting;
    this.offlineBtn.disabled = !open;

    this.socketBanner.hidden = open;
    this.socketBanner.textContent = this.socketState === "reconnecting" ? t("socket_reconnecting") : t("socket_connecting");

    // On a connected call the keypad sends tones; while a call rings or dials it would
    // only type into the field, so it is hidden then. The echo test waits for the end.
    const inCall = [...this.calls.values()].some((call) => LIVE_CALL_STATES.has(call.state));
    const connected = Boolean(this.connectedCall());
    // Keep keyboard focus somewhere useful when the control holding it disappears.
    const focusLost = inCall && (this.numberRow.contains(document.activeElement)
      || (!connected && this.keypad.contains(document.activeElement)));
    this.dialer.hidden = !this.dialerAllowed;
    this.keypad.hidden = inCall && !connected;
    // One call at a time for now: while it lasts, the keypad is for tones, not dialling.
    this.numberRow.hidden = inCall;
    this.callerIdRow.hidden = inCall || this.callerIds.length < 2;
    this.dialBtn.hidden = inCall;
    this.dialBtn.disabled = !open || Boolean(this.blockingCallId);
    this.workBanner.hidden = !this.blockingCallId || inCall;
    this.echoBtn.hidden = !this.echoNumber || inCall;
    this.echoBtn.disabled = !open;

    this.renderCalls();
    if (focusLost) {
      const hangup = this.callList.querySelector("button[data-action=hangup]:not([hidden])");
      if (hangup) hangup.focus();
    }
  }

  renderCalls() {
    const ordered = [...this.calls.values()].sort((a, b) => {
      const incoming = (c) => (c.state === "ringing" && c.direction === "inbound" ? 0 : 1);
      return incoming(a) - incoming(b) || a.seenAt - b.seenAt;
    });
    for (const [callId, card] of this.cards) {
      if (!this.calls.has(callId)) {
        card.el.remove();
        this.cards.delete(callId);
      }
    }
    for (const call of ordered) {
      let card = this.cards.get(call.call_id);
      if (!card) {
        card = new CallCard(this, call.call_id);
        this.cards.set(call.call_id, card);
      }
      card.update(call);
    }
    // Move cards only when the order changed: moving a node drops the focus inside it.
    ordered.forEach((call, index) => {
      const el = this.cards.get(call.call_id).el;
      if (this.callList.children[index] !== el) this.callList.insertBefore(el, this.callList.children[index] || null);
    });
    this.callList.hidden = this.calls.size === 0;

    const live = ordered.filter((call) => LIVE_CALL_STATES.has(call.state));
    if (live.some((call) => call.state === "ringing" && call.direction === "inbound")) this.ringtone.start();
    else this.ringtone.stop();
    if (!live.length && this.muted) {
      // Mute belongs to a call: the next call starts audible.
      this.muted = false;
      if (this.mic) for (const track of this.mic.getAudioTracks()) track.enabled = true;
      this.root.dataset.muted = "false";
    }

    const ticking = live.some((call) => call.state === "connected");
    if (ticking && !this.tickTimer) {
      this.tickTimer = setInterval(() => {
        const now = Date.now();
        for (const card of this.cards.values()) card.tick(now);
      }, 1000);
    } else if (!ticking && this.tickTimer) {
      clearInterval(this.tickTimer);
      this.tickTimer = null;
    }
  }
}

/** Render a softphone into `slot` and connect it. Returns the Softphone. */
export function mount(slot, options = {}) {
  const root = document.createElement("section");
  slot.append(root);
  return new Softphone(root, options).start();
}
