// The softphone's settings panel: audio devices, a microphone level meter, desktop
// alerts and the list of keyboard shortcuts.
//
// Devices come from enumerateDevices(); their names are only given once the page may use
// the microphone (after going online), so until then they read "Microphone 1" and a hint
// says why. The choice is kept in localStorage per browser (a headset is a property of
// the desk, not of the account) and applied to the line at once: the microphone by
// replacing the track the RTCPeerConnection sends (replaceTrack: no renegotiation, the
// call goes on), the speaker with setSinkId on the remote <audio>, the ringer through the
// Ringer. A stored device that is unplugged falls back to the default (`ideal`, not
// `exact`).
//
// The meter reads the line's microphone with an AnalyserNode; it runs only while the
// panel is open or a call is connected, on animation frames (nothing when the tab is
// hidden). Test hooks: [data-device] selects, .sp-meter[data-level] (0-100).

const STORE_KEY = "headset.softphone.devices";
const KINDS = [
  { name: "mic", kind: "audioinput" },
  { name: "speaker", kind: "audiooutput" },
  { name: "ringer", kind: "audiooutput" },
];

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

function readChoice() {
  try {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
    return {
      mic: typeof stored.mic === "string" ? stored.mic : "",
      speaker: typeof stored.speaker === "string" ? stored.speaker : "",
      ringer: typeof stored.ringer === "string" ? stored.ringer : "",
    };
  } catch {
    return { mic: "", speaker: "", ringer: "" };
  }
}

/** A level meter: a bar whose width follows the microphone (role=meter for readers). */
function meter(label) {
  const fill = el("span", { class: "sp-meter__fill" });
  const bar = el("span", {
    class: "sp-meter", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": "0", dataset: { level: "0" },
  }, fill);
  return { bar, fill };
}

/**
 * The row under the panel's header for what changes during a call (the mic meter, the
 * call quality). Not inside the status line: that is a live region, and figures that
 * change every second would be read out over and over.
 */
export function liveRow(root) {
  let row = root.querySelector(".sp-live");
  if (!row) {
    row = el("div", { class: "sp-live" });
    const head = root.querySelector(".sp-head");
    if (head) head.append(row);
  }
  return row;
}

export class DeviceSettings {
  constructor(softphone, ringer, shortcuts) {
    this.sp = softphone;
    this.ringer = ringer;
    this.shortcuts = shortcuts;
    this.choice = readChoice();
    this.devices = [];
    this.analyser = null;
    this.source = null;
    this.metered = null; // the MediaStream the analyser listens to
    this.ctx = null;
    this.frame = 0;
    this.build();
    this.onAudio = () => {
      this.applySpeaker();
      this.followMeter();
    };
    this.onCall = () => this.followMeter();
    softphone.root.addEventListener("softphone:audio", this.onAudio);
    softphone.root.addEventListener("softphone:call", this.onCall);
    this.onDeviceChange = () => this.refresh();
    if (navigator.mediaDevices) navigator.mediaDevices.addEventListener("devicechange", this.onDeviceChange);
    this.ringer.setSinkId(this.choice.ringer);
    this.refresh();
  }

  /** getUserMedia's audio constraint for the chosen microphone (empty: the default). */
  micConstraint() {
    return this.choice.mic ? { deviceId: { ideal: this.choice.mic } } : {};
  }

  build() {
    const t = this.sp.t;
    this.toggle = el("button", {
      type: "button", class: "sp-btn sp-btn--quiet sp-btn--small", dataset: { action: "settings" },
      "aria-expanded": "false", "aria-controls": "softphone-settings", onclick: () => this.setOpen(this.panel.hidden),
    }, t("settings"));
    this.selects = {};
    const rows = KINDS.map(({ name }) => {
      const select = el("select", { id: `softphone-device-${name}`, dataset: { device: name } });
      select.addEventListener("change", () => this.choose(name, select.value));
      this.selects[name] = select;
      return el("div", { class: "sp-field" }, el("label", { for: select.id }, t(`device_${name}`)), select);
    });
    this.panelMeter = meter(t("mic_level"));
    this.callMeter = meter(t("mic_level"));
    this.callMeter.bar.classList.add("sp-meter--inline");
    this.labelsHint = el("p", { class: "sp-hint", hidden: true }, t("device_names_hint"));
    this.speakerHint = el("p", { class: "sp-hint", hidden: true }, t("device_output_unsupported"));
    this.alertsText = el("span", { class: "sp-settings__alerts-text" });
    this.alertsBtn = el("button", {
      type: "button", class: "sp-btn sp-btn--quiet sp-btn--small", dataset: { action: "allow-notifications" },
      onclick: () => this.allowAlerts(),
    }, t("notify_allow"));
    const keys = el("dl", { class: "sp-shortcuts" });
    for (const { keys: combo, label } of this.shortcuts.list()) {
      keys.append(el("dt", {}, el("kbd", {}, combo)), el("dd", {}, label));
    }
    this.panel = el("section", {
      id: "softphone-settings", class: "sp-settings", hidden: true, "aria-label": t("settings_title"),
    },
    el("h3", { class: "sp-settings__title" }, t("settings_title")),
    rows[0],
    el("div", { class: "sp-field sp-field--meter" }, el("span", { class: "sp-settings__label" }, t("mic_level")), this.panelMeter.bar),
    rows[1], rows[2], this.labelsHint, this.speakerHint,
    el("div", { class: "sp-settings__alerts" }, this.alertsText, this.alertsBtn),
    el("h4", { class: "sp-settings__subtitle" }, t("shortcuts_title")),
    keys);

    const root = this.sp.root;
    const actions = root.querySelector(".sp-head__actions");
    if (actions) actions.prepend(this.toggle);
    const head = root.querySelector(".sp-head");
    if (head) head.after(this.panel);
    liveRow(root).append(this.callMeter.bar);
    this.renderAlerts();
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      this.refresh();
      this.renderAlerts();
      // Opening is a click: the audio context for the meter may start now.
      if (this.ctx && this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    }
    this.followMeter();
  }

  async refresh() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    try {
      this.devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      this.devices = [];
    }
    this.renderSelects();
  }

  renderSelects() {
    const t = this.sp.t;
    let unnamed = false;
    for (const { name, kind } of KINDS) {
      const select = this.selects[name];
      const list = this.devices.filter((device) => device.kind === kind && device.deviceId !== "default"
        && device.deviceId !== "communications");
      const options = [el("option", { value: "" }, t("device_default"))];
      list.forEach((device, index) => {
        if (!device.label) unnamed = true;
        options.push(el("option", { value: device.deviceId },
          device.label || t(`device_${name}_n`, { n: index + 1 })));
      });
      select.replaceChildren(...options);
      const chosen = this.choice[name];
      select.value = list.some((device) => device.deviceId === chosen) ? chosen : "";
    }
    const canChoose = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
    this.selects.speaker.disabled = !canChoose;
    this.selects.ringer.disabled = !canChoose;
    this.speakerHint.hidden = canChoose;
    this.labelsHint.hidden = !unnamed;
  }

  choose(name, deviceId) {
    this.choice[name] = deviceId;
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(this.choice));
    } catch {
      // private mode or full storage: the choice lasts for this page
    }
    if (name === "mic") this.applyMic();
    else if (name === "speaker") this.applySpeaker();
    else this.ringer.setSinkId(deviceId);
  }

  applySpeaker() {
    const audio = this.sp.audio;
    if (audio && typeof audio.setSinkId === "function") audio.setSinkId(this.choice.speaker).catch(() => {});
  }

  /** Send the chosen microphone on the line without renegotiating (replaceTrack). */
  async applyMic() {
    const sp = this.sp;
    if (!sp.mic || !sp.pc) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...this.micConstraint() },
        video: false,
      });
    } catch {
      sp.notice(sp.t("mic_not_found"));
      return;
    }
    const track = stream.getAudioTracks()[0];
    const sender = sp.pc && sp.pc.getSenders().find((s) => s.track && s.track.kind === "audio");
    if (!track || !sender || !sp.mic) {
      stream.getTracks().forEach((old) => old.stop());
      return;
    }
    track.enabled = !sp.muted;
    await sender.replaceTrack(track);
    const old = sp.mic;
    sp.mic = stream;
    old.getTracks().forEach((oldTrack) => oldTrack.stop());
    this.followMeter();
  }

  // -- alerts --------------------------------------------------------------------------

  renderAlerts() {
    const t = this.sp.t;
    const permission = this.ringer.permission;
    this.alertsText.textContent = t(`notify_${permission}`);
    this.alertsBtn.hidden = permission !== "default";
  }

  async allowAlerts() {
    await this.ringer.requestPermission();
    this.renderAlerts();
  }

  // -- level meter -----------------------------------------------------------------------

  followMeter() {
    const inCall = this.sp.root.dataset.callState === "connected";
    const wanted = Boolean(this.sp.mic) && (!this.panel.hidden || inCall);
    if (wanted && !this.frame) this.frame = requestAnimationFrame(() => this.measure());
    if (!wanted) this.stopMeter();
  }

  stopMeter() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.source) this.source.disconnect();
    this.source = null;
    this.metered = null;
    this.show(0);
  }

  measure() {
    this.frame = 0;
    const mic = this.sp.mic;
    const inCall = this.sp.root.dataset.callState === "connected";
    if (!mic || (this.panel.hidden && !inCall)) {
      this.stopMeter();
      return;
    }
    if (mic !== this.metered) this.listen(mic);
    if (this.analyser) {
      const samples = new Float32Array(this.analyser.fftSize);
      this.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      // RMS on a log scale: speech sits mid-scale, a quiet room near the bottom.
      const db = 20 * Math.log10(Math.sqrt(sum / samples.length) || 1e-6);
      this.show(Math.max(0, Math.min(100, Math.round((db + 60) * (100 / 60)))));
    }
    this.frame = requestAnimationFrame(() => this.measure());
  }

  listen(mic) {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) return;
    this.ctx ??= new AudioContextClass();
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    if (this.source) this.source.disconnect();
    this.analyser ??= this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source = this.ctx.createMediaStreamSource(mic);
    this.source.connect(this.analyser);
    this.metered = mic;
  }

  show(level) {
    for (const { bar, fill } of [this.panelMeter, this.callMeter]) {
      if (bar.dataset.level === String(level)) continue;
      bar.dataset.level = String(level);
      bar.setAttribute("aria-valuenow", String(level));
      fill.style.width = `${level}%`;
    }
  }

  destroy() {
    this.stopMeter();
    this.sp.root.removeEventListener("softphone:audio", this.onAudio);
    this.sp.root.removeEventListener("softphone:call", this.onCall);
    if (navigator.mediaDevices) navigator.mediaDevices.removeEventListener("devicechange", this.onDeviceChange);
    if (this.ctx) this.ctx.close().catch(() => {});
  }
}
