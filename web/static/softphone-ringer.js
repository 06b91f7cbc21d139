// Ringing: the ringtone and the desktop notification for a call that rings.
//
// The ringtone is synthesized with WebAudio (no audio file to fetch or cache): a calm
// two-tone burst (440 + 480 Hz, twice 0.4 s) every 3 s. It plays on the ringer device the
// agent chose (settings panel): the tone goes into a MediaStreamDestination played by an
// <audio> element whose setSinkId picks the device, so a call can ring on the laptop's
// speakers while the headset stays for the call. Without setSinkId (Firefox before 116)
// it rings on the default output.
//
// The notification is only shown when the tab is hidden (a visible tab rings and shows
// the call already) and only if the agent allowed it: permission is asked from a button
// in the settings panel, never on load (browsers ignore or penalise prompts without a
// user gesture). Clicking it brings the tab forward. Test hook: root[data-ringing].

const BURST_EVERY_MS = 3000;
const VOLUME = 0.12;

export class Ringer {
  constructor(softphone) {
    this.sp = softphone;
    this.ctx = null;
    this.output = null; // <audio> playing the tone when a ringer device is chosen
    this.sinkId = "";
    this.timer = null;
    this.voices = [];
    this.notes = new Map(); // call_id -> Notification
    this.onCall = (event) => this.followCall(event.detail || {});
    softphone.root.addEventListener("softphone:call", this.onCall);
  }

  get playing() {
    return this.timer !== null;
  }

  start() {
    if (this.timer !== null) return;
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) return;
    this.ctx ??= new AudioContextClass();
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    this.route();
    this.burst();
    this.timer = setInterval(() => this.burst(), BURST_EVERY_MS);
    this.sp.root.dataset.ringing = "true";
  }

  stop() {
    this.sp.root.dataset.ringing = "false";
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    for (const { gain, oscillators } of this.voices) {
      for (const osc of oscillators) {
        try {
          osc.stop();
        } catch {
          // already stopped
        }
      }
      gain.disconnect();
    }
    this.voices = [];
    if (this.output) this.output.pause();
  }

  close() {
    this.stop();
    this.closeNotifications();
    this.sp.root.removeEventListener("softphone:call", this.onCall);
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ctx = null;
    this.output = null;
  }

  /** Ring on device `sinkId` ("" = the default output). */
  async setSinkId(sinkId) {
    this.sinkId = String(sinkId || "");
    if (this.output && typeof this.output.setSinkId === "function") {
      await this.output.setSinkId(this.sinkId).catch(() => {});
    }
  }

  /** Where the tone goes: the chosen device through an <audio>, else the default output. */
  route() {
    const ctx = this.ctx;
    const canChoose = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
    if (!this.sinkId || !canChoose) {
      this.destination = ctx.destination;
      return;
    }
    if (!this.output) {
      const stream = ctx.createMediaStreamDestination();
      this.output = document.createElement("audio");
      this.output.srcObject = stream.stream;
      this.streamDestination = stream;
    }
    this.destination = this.streamDestination;
    this.output.setSinkId(this.sinkId).catch(() => {});
    this.output.play().catch(() => {});
  }

  burst() {
    const ctx = this.ctx;
    const start = ctx.currentTime + 0.02;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, start);
    for (const offset of [0, 0.6]) {
      gain.gain.linearRampToValueAtTime(VOLUME, start + offset + 0.03);
      gain.gain.setValueAtTime(VOLUME, start + offset + 0.37);
      gain.gain.linearRampToValueAtTime(0, start + offset + 0.4);
    }
    gain.connect(this.destination || ctx.destination);
    const oscillators = [440, 480].map((frequency) => {
      const osc = ctx.createOscillator();
      osc.frequency.value = frequency;
      osc.connect(gain);
      osc.start(start);
      osc.stop(start + 1.05);
      return osc;
    });
    const voice = { gain, oscillators };
    this.voices.push(voice);
    oscillators[0].onended = () => {
      gain.disconnect();
      this.voices = this.voices.filter((v) => v !== voice);
    };
  }

  // -- desktop notifications -------------------------------------------------------------

  /** "granted", "denied", "default" or "unsupported". */
  get permission() {
    return typeof Notification === "undefined" ? "unsupported" : Notification.permission;
  }

  /** Ask to show notifications; call it from a click (a user gesture). */
  async requestPermission() {
    if (this.permission !== "default") return this.permission;
    try {
      return await Notification.requestPermission();
    } catch {
      return this.permission;
    }
  }

  followCall(event) {
    const callId = String(event.call_id || "");
    const ringing = event.state === "ringing" && event.direction === "inbound";
    if (!ringing) {
      this.closeNotification(callId);
      return;
    }
    if (document.visibilityState === "visible" || this.permission !== "granted" || this.notes.has(callId)) return;
    const t = this.sp.t;
    const who = String(event.remote_name || event.remote || "") || t("unknown_number");
    let note;
    try {
      note = new Notification(t("notify_ringing_title"), {
        body: t("notify_ringing_body", { who }), tag: `headset-call-${callId}`, requireInteraction: true,
      });
    } catch {
      return; // a platform that only notifies from a service worker: the ring still sounds
    }
    note.onclick = () => {
      window.focus();
      this.closeNotification(callId);
    };
    this.notes.set(callId, note);
  }

  closeNotification(callId) {
    const note = this.notes.get(callId);
    if (note) note.close();
    this.notes.delete(callId);
  }

  closeNotifications() {
    for (const callId of [...this.notes.keys()]) this.closeNotification(callId);
  }
}
