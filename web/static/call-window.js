// The call window: what the agent works on during and after a call.
//
// Theory of operation. The softphone (softphone.js) owns the call; this module listens to
// its bubbling `softphone:*` events on document and to the server's JSON API
// (web/views/call_window.py). When a call rings or is dialled, the window opens by itself
// if the user's auto-open setting is on (else the dock shows a button). It shows the
// matched contact (or the choice between several, or "new contact"), earlier calls with
// their notes, and lets the agent write notes, add tags, pick a disposition (its form is
// rendered from its definition) or a wrap-up shortcut, and "Save and finish". It stays
// until then, even after the call has ended; calls not finished are listed in the dock
// for 24 hours so the window can be reopened.
//
// Nothing typed may be lost: every keystroke is kept in localStorage at once (a crashed
// tab leaves it there), sent to the server after a second of quiet, and sent again with
// `keepalive` when the tab is hidden or closed. Each write carries a revision that only
// grows (a millisecond clock), so the server keeps the newest and ignores overtaken ones;
// on reopening, a local copy newer than the server's is sent again.
//
// Test hooks: #call-window[data-call-id][data-state][data-note-state] and data-action
// on buttons.

import { h } from "./dom.js";
import { softphone } from "./softphone-boot.js";

const NOTE_DEBOUNCE_MS = 1000;
const RETRY_MS = 5000;
const STORE_PREFIX = "headset.call-note.";
const LIVE = new Set(["dialing", "ringing", "connected"]);

// -- small helpers ----------------------------------------------------------------------

function duration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = String(Math.floor((total % 3600) / 60)).padStart(2, "0");
  const secs = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${minutes}:${secs}` : `${minutes}:${secs}`;
}

function translator(lang, messages) {
  const t = (key, params = {}) => {
    const text = messages[key];
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
  t.lang = lang;
  return t;
}

/** A revision newer than `previous`: the clock in ms, kept strictly increasing. */
function nextRevision(previous) {
  return Math.max(Date.now(), (previous || 0) + 1);
}

function readLocal(callId) {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_PREFIX + callId) || "null");
    if (saved && typeof saved.body === "string" && Number.isSafeInteger(saved.revision)) return saved;
  } catch {
    // unreadable: ignore
  }
  return null;
}

function writeLocal(callId, body, revision) {
  try {
    localStorage.setItem(STORE_PREFIX + callId, JSON.stringify({ body, revision }));
  } catch {
    // storage full or blocked: the server copy still follows
  }
}

function dropLocal(callId, revision) {
  const saved = readLocal(callId);
  if (saved && saved.revision <= revision) localStorage.removeItem(STORE_PREFIX + callId);
}

// -- the server --------------------------------------------------------------------------

class Api {
  constructor(csrf) {
    this.csrf = csrf;
  }

  async get(path) {
    const resp = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
    return resp.json();
  }

  /** A write; resolves to {ok, status, data}. `keepalive` survives the page closing. */
  async send(method, path, body, { keepalive = false } = {}) {
    const resp = await fetch(path, {
      method,
      keepalive,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": this.csrf },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    return { ok: resp.ok, status: resp.status, data };
  }
}

// -- notes autosave ------------------------------------------------------------------------

/** One call's note: local copy at once, server after a quiet second, and on page hide. */
class NoteSaver {
  constructor(api, callId, onState) {
    this.api = api;
    this.callId = callId;
    this.onState = onState;
    this.body = "";
    this.revision = 0; // of this.body
    this.savedRevision = 0; // the newest the server confirmed
    this.timer = null;
    this.inFlight = false;
  }

  load(body, revision) {
    this.body = body;
    this.revision = revision;
    this.savedRevision = revision;
    const local = readLocal(this.callId);
    if (local && local.revision > revision) {
      // Typed before a crash or a closed tab and never confirmed: it wins, and goes out now.
      this.body = local.body;
      this.revision = local.revision;
      this.schedule(0);
    } else if (local) {
      dropLocal(this.callId, revision);
    }
    return this.body;
  }

  get dirty() {
    return this.revision > this.savedRevision;
  }

  edit(body) {
    this.body = body;
    this.revision = nextRevision(this.revision);
    writeLocal(this.callId, body, this.revision);
    this.onState("saving");
    this.schedule(NOTE_DEBOUNCE_MS);
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), ms);
  }

  async flush({ keepalive = false } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.dirty) return;
    if (this.inFlight && !keepalive) {
      this.schedule(NOTE_DEBOUNCE_MS);
      return;
    }
    const { body, revision } = this;
    this.inFlight = !keepalive;
    try {
      const result = await this.api.send("PUT", `/api/calls/${encodeURIComponent(this.callId)}/notes`,
        { body, revision }, { keepalive });
      if (result.ok && result.data) {
        this.savedRevision = Math.max(this.savedRevision, result.data.revision);
        dropLocal(this.callId, this.savedRevision);
        this.onState(this.dirty ? "saving" : "saved");
      } else if (result.status === 400 && result.data) {
        this.onState("error", result.data.message);
      } else {
        this.retry();
      }
    } catch {
      this.retry();
    } finally {
      if (!keepalive) this.inFlight = false;
    }
  }

  retry() {
    this.onState("failed");
    this.schedule(RETRY_MS);
  }

  close() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

// -- the window ----------------------------------------------------------------------------

class CallWindow {
  constructor(app) {
    this.app = app;
    this.t = app.t;
    this.callId = "";
    this.data = null;
    this.notes = null;
    this.loadedAt = 0;
    this.liveState = "";
    this.formCallId = ""; // the call whose disposition form is on screen
    this.fieldErrors = new Map();
    this.ticker = null;
    this.opener = null;
    this.build();
  }

  build() {
    const t = this.t;
    this.heading = h("h2", { class: "cw-title", id: "call-window-title", tabindex: "-1" }, t("calls.window.title"));
    this.who = h("p", { class: "cw-who" });
    this.number = h("p", { class: "cw-number" });
    this.statusLine = h("span", { class: "cw-status", role: "timer" });
    this.talkTimer = h("span", { class: "cw-talk", role: "timer" });
    this.qualityText = h("span", { class: "cw-quality", hidden: true });
    this.closeBtn = h("button", {
      type: "button", class: "cw-close", dataset: { action: "cw-close" }, "aria-label": t("calls.window.close_aria"),
      onclick: () => this.hide(),
    }, t("calls.window.close"));
    this.contactBox = h("div", { class: "cw-contact" });
    this.notesBox = h("textarea", {
      id: "cw-notes", class: "cw-notes", rows: "6", maxlength: "20000", spellcheck: "true",
      "aria-describedby": "cw-notes-state",
    });
    this.notesBox.addEventListener("input", () => this.notes && this.notes.edit(this.notesBox.value));
    this.noteState = h("p", { class: "cw-hint", id: "cw-notes-state", "aria-live": "polite" });
    this.tagsInput = h("input", {
      id: "cw-tags", type: "text", class: "cw-input", autocomplete: "off", "aria-describedby": "cw-tags-hint",
    });
    this.tagsInput.addEventListener("change", () => this.saveTags());
    this.tagsError = h("p", { class: "field-error", hidden: true });
    this.historyBox = h("div", { class: "cw-history" });

    this.dispositionSelect = h("select", { id: "cw-disposition", class: "cw-input" });
    this.dispositionSelect.addEventListener("change", () => this.renderFields());
    this.fieldsBox = h("div", { class: "cw-fields" });
    this.callbackInput = h("input", { id: "cw-callback", type: "datetime-local", class: "cw-input" });
    this.callbackField = h("div", { class: "field", hidden: true },
      h("label", { for: "cw-callback" }, t("calls.window.callback_at")), this.callbackInput);
    const shortcut = (name) => h("button", {
      type: "button", class: "cw-chip", dataset: { action: `wrap-${name}` },
      onclick: () => this.chooseShortcut(name),
    }, t(`calls.window.wrap_up.${name}`));
    this.mustNote = h("p", { class: "cw-must", hidden: true }, t("calls.window.must_disposition"));
    this.summary = h("div", { class: "alert cw-summary", role: "alert", hidden: true, tabindex: "-1" });
    this.finishHint = h("p", { class: "cw-hint" });
    this.finishBtn = h("button", { type: "submit", class: "primary", dataset: { action: "cw-finish" } },
      t("calls.window.finish"));
    this.form = h("form", { class: "cw-form", novalidate: true, "aria-label": t("calls.window.finish") },
      this.mustNote,
      this.summary,
      h("div", { class: "field" },
        h("label", { for: "cw-disposition" }, t("calls.window.disposition")), this.dispositionSelect),
      h("div", { class: "cw-shortcuts", role: "group", "aria-label": t("calls.window.shortcuts") },
        shortcut("wrong_number"), shortcut("voicemail"), shortcut("callback")),
      this.callbackField,
      this.fieldsBox,
      h("div", { class: "actions" }, this.finishBtn, this.finishHint));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.finish();
    });

    this.el = h("section", {
      id: "call-window", class: "cw-panel", hidden: true, "aria-labelledby": "call-window-title", tabindex: "-1",
    },
    h("header", { class: "cw-head" },
      h("div", { class: "cw-head__main" }, this.heading, this.who, this.number),
      this.closeBtn),
    h("p", { class: "cw-timers" }, this.statusLine, this.talkTimer, this.qualityText),
    h("div", { class: "cw-body" },
      h("section", { class: "cw-section", "aria-label": t("calls.window.contact") }, this.contactBox),
      h("section", { class: "cw-section" },
        h("label", { for: "cw-notes", class: "cw-label" }, t("calls.window.notes")),
        this.notesBox, this.noteState,
        h("label", { for: "cw-tags", class: "cw-label" }, t("calls.window.tags")),
        this.tagsInput,
        h("p", { class: "cw-hint", id: "cw-tags-hint" }, t("calls.window.tags_hint")),
        this.tagsError),
      h("section", { class: "cw-section" }, this.form),
      h("section", { class: "cw-section" },
        h("h3", {}, t("calls.window.history")), this.historyBox)));
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        this.hide();
      }
    });
  }

  get open() {
    return !this.el.hidden;
  }

  /** Show call `callId`; `focus` moves the keyboard there (not when a call just rings). */
  async show(callId, { focus = false } = {}) {
    if (this.callId && this.callId !== callId) await this.release();
    if (focus && !this.el.contains(document.activeElement)) this.opener = document.activeElement;
    this.callId = callId;
    this.el.dataset.callId = callId;
    this.el.hidden = false;
    await this.load();
    if (focus) this.notesBox.focus();
  }

  async hide() {
    await this.release();
    this.el.hidden = true;
    this.el.dataset.callId = "";
    if (this.opener && document.contains(this.opener)) this.opener.focus();
    this.opener = null;
    this.app.refreshList();
  }

  async release() {
    this.formCallId = "";
    if (this.notes) {
      await this.notes.flush();
      this.notes.close();
    }
    this.notes = null;
    this.callId = "";
    clearInterval(this.ticker);
    this.ticker = null;
  }

  async load() {
    const callId = this.callId;
    let data;
    try {
      data = await this.app.api.get(`/api/calls/${encodeURIComponent(callId)}`);
    } catch {
      this.noteState.textContent = this.t("calls.error.save_failed");
      return;
    }
    if (callId !== this.callId) return;
    this.data = data;
    this.loadedAt = performance.now();
    this.liveState = data.call.state;
    if (!this.notes) {
      this.notes = new NoteSaver(this.app.api, callId, (state, message) => this.setNoteState(state, message));
      this.notesBox.value = this.notes.load(data.note.body, data.note.revision);
      this.setNoteState(this.notes.dirty ? "saving" : "idle");
    }
    this.render();
    clearInterval(this.ticker);
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  setNoteState(state, message = "") {
    const t = this.t;
    this.el.dataset.noteState = state;
    this.noteState.dataset.tone = state === "error" || state === "failed" ? "bad" : "";
    this.noteState.textContent = {
      idle: t("calls.window.notes_hint"),
      saving: t("calls.window.saving"),
      saved: t("calls.window.saved"),
      failed: t("calls.error.save_failed"),
      error: message,
    }[state] || "";
  }

  /** The softphone says the call changed state. */
  onCall(event) {
    if (event.call_id !== this.callId) return;
    const before = this.liveState;
    this.liveState = event.state;
    if (event.state === "ended" || (before !== "connected" && event.state === "connected")) this.load();
    else this.renderStatus();
    if (event.state !== "connected") this.qualityText.hidden = true;
  }

  /** The softphone's live `quality` event: the worse leg's grade, the figures on hover. */
  showQuality(event) {
    if (event.call_id !== this.callId || this.liveState !== "connected") return;
    const t = this.t;
    const rank = { good: 0, fair: 1, poor: 2 };
    const legs = ["browser", "sip"].filter((name) => event[name] && event[name].grade in rank);
    if (!legs.length) return;
    const grade = legs.map((name) => event[name].grade).sort((a, b) => rank[b] - rank[a])[0];
    const number = (value, digits) => new Intl.NumberFormat(t.lang, { maximumFractionDigits: digits }).format(value);
    this.qualityText.textContent = `${t("calls.quality.label")}: ${t(`calls.quality.${grade}`)}`;
    this.qualityText.dataset.grade = grade;
    this.qualityText.title = legs.map((name) => {
      const leg = event[name];
      const figures = t("calls.quality.figures", {
        mos: number(leg.mos, 1), jitter: number(leg.jitter_ms, 0), loss: number(leg.loss_pct, 1),
      });
      const rtt = leg.rtt_ms == null ? "" : ` · ${t("calls.quality.rtt", { rtt: number(leg.rtt_ms, 0) })}`;
      return `${t(`calls.quality.leg_${name}`)}: ${figures}${rtt}`;
    }).join("\n");
    this.qualityText.hidden = false;
  }

  render() {
    const t = this.t;
    const { call } = this.data;
    this.el.dataset.state = this.liveState;
    this.heading.textContent = t(call.direction === "inbound" ? "calls.window.inbound" : "calls.window.outbound");
    const name = (this.data.contact && this.data.contact.name) || call.remote_name;
    this.who.textContent = name || call.remote_shown || t("calls.window.unknown_number");
    this.number.textContent = name ? call.remote_shown : "";
    this.number.hidden = !this.number.textContent;
    this.renderContact();
    // A reload of the same call (it was answered, or it ended) keeps what the agent is
    // typing or choosing; only a newly shown call starts from what the server has.
    const sameCall = this.formCallId === this.callId;
    this.formCallId = this.callId;
    if (!sameCall || document.activeElement !== this.tagsInput) this.tagsInput.value = this.data.tags.join(", ");
    this.renderDispositions(sameCall);
    this.renderHistory();
    this.renderStatus();
  }

  renderStatus() {
    const t = this.t;
    if (!this.data) return;
    const { call } = this.data;
    const state = this.liveState || call.state;
    this.el.dataset.state = state;
    const ended = state === "ended" && call.state === "ended";
    this.finishBtn.disabled = !ended;
    this.finishHint.textContent = ended ? "" : t("calls.window.finish_after_hangup");
    this.tick();
  }

  tick() {
    if (!this.data) return;
    const t = this.t;
    const { call } = this.data;
    const state = this.liveState || call.state;
    const since = (performance.now() - this.loadedAt) / 1000;
    // The server measured up to the load; the page adds what passed since.
    const stale = state !== call.state; // the softphone is ahead of the last load
    const statusSeconds = stale ? 0 : call.status_seconds + since;
    // "Wrap-up · 01:43": the same in every language, so not a catalogue entry.
    this.statusLine.textContent = `${t(`calls.window.status.${state}`)} · ${duration(statusSeconds)}`;
    const talking = state === "connected" && call.state === "connected";
    const talk = call.talk_seconds == null ? null : call.talk_seconds + (talking ? since : 0);
    this.talkTimer.hidden = talk == null;
    if (talk != null) {
      const target = this.data.target_talk_seconds;
      const over = talk > target;
      this.talkTimer.textContent = `${t("calls.window.talk_time")} ${duration(talk)}`;
      this.talkTimer.classList.toggle("cw-talk--over", over);
      this.talkTimer.title = over ? t("calls.window.talk_over", { time: duration(target) }) : "";
      // Colour alone says nothing to a screen reader: the words go into the label.
      if (over) this.talkTimer.setAttribute("aria-label", `${this.talkTimer.textContent}. ${this.talkTimer.title}`);
      else this.talkTimer.removeAttribute("aria-label");
      this.talkTimer.dataset.over = String(over);
    }
  }

  renderContact() {
    const t = this.t;
    const { contact, matches, number } = this.data;
    const box = this.contactBox;
    box.replaceChildren(h("h3", {}, t("calls.window.contact")));
    if (contact) {
      box.append(
        h("p", { class: "cw-contact__name" }, h("a", { href: contact.url, dataset: { action: "cw-contact" } }, contact.name)),
        contact.company ? h("p", { class: "cw-hint" }, contact.company) : null,
        contact.email ? h("p", { class: "cw-hint" }, contact.email) : null,
        contact.tags.length ? h("p", {}, ...contact.tags.map((tag) => h("span", { class: "badge tag" }, tag))) : null);
      return;
    }
    if (matches.length) {
      box.append(h("p", {}, t("calls.window.matches")),
        h("ul", { class: "cw-matches" }, ...matches.map((match) => h("li", {},
          h("a", { href: `/contacts/${match.id}` }, match.name),
          match.company ? h("span", { class: "cw-hint" }, ` · ${match.company}`) : null,
          h("button", {
            type: "button", class: "cw-chip", dataset: { action: "cw-pick", contactId: match.id },
            onclick: () => this.pick(match.id),
          }, t("calls.window.pick"))))));
      return;
    }
    box.append(h("p", { class: "cw-hint" }, t("calls.window.no_contact")));
    if (number) {
      const encoded = encodeURIComponent(number);
      box.append(h("p", { class: "cw-links" },
        h("a", { class: "button", href: `/contacts/new?number=${encoded}` }, t("calls.window.new_contact")),
        h("a", { href: `/contacts?add_number=${encoded}` }, t("calls.window.add_to_contact"))));
    }
  }

  async pick(contactId) {
    const result = await this.app.api.send("PUT", `/api/calls/${encodeURIComponent(this.callId)}/contact`,
      { contact_id: contactId });
    if (result.ok) await this.load();
  }

  renderHistory() {
    const t = this.t;
    const items = this.data.activities;
    if (!items.length) {
      this.historyBox.replaceChildren(h("p", { class: "cw-hint" }, t(this.data.contact ? "calls.window.no_history" : "calls.window.no_contact")));
      return;
    }
    const when = new Intl.DateTimeFormat(t.lang, { dateStyle: "short", timeStyle: "short" });
    this.historyBox.replaceChildren(h("ol", { class: "cw-activity" }, ...items.map((item) => {
      const closed = item.disposition || (item.wrap_up ? t(`calls.window.wrap_up.${item.wrap_up}`) : "");
      return h("li", {},
        h("p", { class: "cw-activity__head" },
          h("time", { datetime: item.started_at }, when.format(new Date(item.started_at))),
          ` · ${t(item.direction === "inbound" ? "calls.window.inbound" : "calls.window.outbound")}`,
          item.outcome ? ` · ${t(`call.outcome.${item.outcome}`)}` : "",
          closed ? ` · ${closed}` : "",
          ` · ${t("calls.window.by_agent", { agent: item.agent })}`),
        item.note ? h("p", { class: "cw-activity__note" }, item.note) : null);
    })));
  }

  renderDispositions(keep = false) {
    const t = this.t;
    const select = this.dispositionSelect;
    const kept = keep ? { value: select.value, values: this.fieldValues() } : null;
    const current = kept ? kept.value
      : this.data.wrap_up ? `wrap:${this.data.wrap_up}` : String(this.data.disposition_id || "");
    select.replaceChildren(h("option", { value: "" }, t("calls.window.choose_disposition")));
    const groups = new Map();
    for (const item of this.data.dispositions) {
      const label = `${item.category} (${t(`calls.window.kind.${item.kind}`)})`;
      if (!groups.has(label)) groups.set(label, h("optgroup", { label }));
      groups.get(label).append(h("option", { value: String(item.id) }, item.name));
    }
    select.append(...groups.values());
    select.append(h("optgroup", { label: t("calls.window.shortcuts") },
      ...["wrong_number", "voicemail", "callback"].map((name) =>
        h("option", { value: `wrap:${name}` }, t(`calls.window.wrap_up.${name}`)))));
    select.value = current;
    this.mustNote.hidden = !this.data.must_disposition;
    if (kept) {
      this.renderFields(kept.values);
      return;
    }
    this.fieldErrors.clear();
    this.summary.hidden = true;
    this.callbackInput.value = "";
    this.renderFields(this.data.values || {});
  }

  chooseShortcut(name) {
    this.dispositionSelect.value = `wrap:${name}`;
    this.renderFields();
    if (name === "callback") this.callbackInput.focus();
  }

  selected() {
    const value = this.dispositionSelect.value;
    if (value.startsWith("wrap:")) return { wrapUp: value.slice(5), disposition: null };
    const disposition = this.data.dispositions.find((item) => String(item.id) === value) || null;
    return { wrapUp: null, disposition };
  }

  renderFields(values = null) {
    const { wrapUp, disposition } = this.selected();
    const keep = values || this.fieldValues();
    this.callbackField.hidden = wrapUp !== "callback";
    const fields = disposition ? disposition.fields : [];
    this.fieldsBox.replaceChildren(...fields.map((field) => this.fieldElement(field, keep[field.name])));
  }

  fieldElement(field, value) {
    const t = this.t;
    const id = `cw-field-${field.name}`;
    let input;
    if (field.type === "choice") {
      input = h("select", { id, class: "cw-input" }, h("option", { value: "" }, ""),
        ...field.choices.map((choice) => h("option", { value: choice }, choice)));
    } else if (field.type === "date") {
      input = h("input", { id, type: "date", class: "cw-input" });
    } else if (field.type === "number") {
      input = h("input", { id, type: "text", inputmode: "decimal", class: "cw-input", autocomplete: "off" });
    } else {
      input = h("input", { id, type: "text", class: "cw-input", maxlength: "1000", autocomplete: "off" });
    }
    input.dataset.field = field.name;
    if (field.required) input.setAttribute("aria-required", "true");
    if (value != null) input.value = String(value);
    const error = this.fieldErrors.get(field.name);
    const errorEl = error ? h("p", { class: "field-error", id: `${id}-error` }, error) : null;
    if (error) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${id}-error`);
    }
    return h("div", { class: `field${error ? " has-error" : ""}` },
      h("label", { for: id }, field.label,
        field.required ? h("span", { class: "cw-required" }, ` (${t("calls.window.required_mark")})`) : null),
      input, errorEl);
  }

  fieldValues() {
    const values = {};
    for (const input of this.fieldsBox.querySelectorAll("[data-field]")) values[input.dataset.field] = input.value;
    return values;
  }

  async saveTags() {
    const tags = this.tagsInput.value.split(",").map((tag) => tag.trim()).filter(Boolean);
    const result = await this.app.api.send("PUT", `/api/calls/${encodeURIComponent(this.callId)}/tags`, { tags });
    this.tagsError.hidden = result.ok;
    this.tagsError.textContent = result.ok ? "" : (result.data && result.data.message) || this.t("calls.error.save_failed");
    if (result.ok) this.tagsInput.value = result.data.tags.join(", ");
  }

  async finish() {
    if (!this.data || this.finishBtn.disabled) return;
    const callId = this.callId;
    if (this.notes) await this.notes.flush();
    const { wrapUp, disposition } = this.selected();
    const body = {
      disposition_id: disposition ? disposition.id : null,
      wrap_up: wrapUp,
      callback_at: wrapUp === "callback" ? this.callbackInput.value : null,
      // Minutes east of UTC, as the server wants them (getTimezoneOffset is west).
      tz_offset: -new Date().getTimezoneOffset(),
      values: this.fieldValues(),
    };
    this.finishBtn.disabled = true;
    let result;
    try {
      result = await this.app.api.send("POST", `/api/calls/${encodeURIComponent(callId)}/finish`, body);
    } catch {
      result = { ok: false, status: 0, data: null };
    }
    this.finishBtn.disabled = false;
    if (callId !== this.callId) return;
    if (result.ok) {
      if (this.notes) dropLocal(callId, Number.MAX_SAFE_INTEGER);
      this.app.announce(this.t("calls.window.finished"));
      this.opener = null;
      await this.hide();
      return;
    }
    this.showErrors(result);
  }

  showErrors(result) {
    const t = this.t;
    const data = result.data || {};
    const fields = data.fields || {};
    this.fieldErrors = new Map(Object.entries(fields).filter(([name]) => !name.startsWith("_")));
    const general = Object.entries(fields).filter(([name]) => name.startsWith("_")).map(([, text]) => text);
    const values = this.fieldValues();
    this.renderFields(values);
    this.summary.replaceChildren(
      h("p", {}, data.message || t("calls.error.save_failed")),
      ...(general.length || this.fieldErrors.size ? [h("ul", {},
        ...general.map((text) => h("li", {}, text)),
        ...[...this.fieldErrors.entries()].map(([name, text]) =>
          h("li", {}, h("a", { href: `#cw-field-${name}` }, text))))] : []));
    this.summary.hidden = false;
    this.summary.focus();
  }

  /** The page is being hidden or closed: send what is unsaved, surviving the unload. */
  flushOnHide() {
    if (this.notes && this.notes.dirty) this.notes.flush({ keepalive: true });
  }
}

// -- the dock: unfinished calls, and the button when auto-open is off ---------------------

class CallWindowApp {
  constructor(slot, t, api) {
    this.slot = slot;
    this.t = t;
    this.api = api;
    this.autoOpen = true;
    this.echoNumber = "";
    this.liveCallId = "";
    this.window = new CallWindow(this);
    this.list = h("ul", { class: "cw-list" });
    this.listTitle = h("h2", { class: "cw-list__title" });
    this.openLive = h("button", {
      type: "button", class: "cw-chip", dataset: { action: "cw-open-live" }, hidden: true,
      "aria-label": t("calls.window.open_aria"),
      onclick: () => this.window.show(this.liveCallId, { focus: true }),
    }, t("calls.window.open"));
    this.live = h("p", { class: "sr-only cw-live", "aria-live": "polite" });
    this.dock = h("section", { class: "cw-dock", "aria-labelledby": "cw-list-title" },
      this.openLive, this.listTitle, this.list, this.live);
    this.listTitle.id = "cw-list-title";
    slot.append(this.dock);
    document.body.append(this.window.el);
    this.listen();
    this.refreshList();
  }

  announce(text) {
    this.live.textContent = text;
  }

  listen() {
    document.addEventListener("softphone:hello", (event) => {
      this.echoNumber = String((event.detail && event.detail.echo_number) || "");
      this.refreshList();
    });
    document.addEventListener("softphone:call", (event) => this.onCall(event.detail || {}));
    document.addEventListener("softphone:quality", (event) => this.window.showQuality(event.detail || {}));
    document.addEventListener("softphone:open-work", (event) => {
      const callId = event.detail && event.detail.call_id;
      if (callId) this.window.show(callId, { focus: true });
    });
    document.addEventListener("softphone:work", () => this.refreshList());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.window.flushOnHide();
    });
    window.addEventListener("pagehide", () => this.window.flushOnHide());
  }

  onCall(call) {
    const callId = String(call.call_id || "");
    if (!callId || (this.echoNumber && call.remote === this.echoNumber)) return;
    if (LIVE.has(call.state)) {
      const isNew = callId !== this.liveCallId;
      this.liveCallId = callId;
      this.openLive.hidden = this.window.open && this.window.callId === callId;
      this.dock.hidden = false;
      if (isNew && this.autoOpen) this.window.show(callId);
    } else if (callId === this.liveCallId) {
      this.liveCallId = "";
      this.openLive.hidden = true;
      this.refreshList();
    }
    this.window.onCall(call);
  }

  async refreshList() {
    let data;
    try {
      data = await this.api.get("/api/calls/unfinished");
    } catch {
      return;
    }
    const t = this.t;
    this.autoOpen = Boolean(data.auto_open);
    const calls = data.calls.filter((call) => !LIVE.has(call.state));
    this.dock.hidden = !calls.length && !this.liveCallId;
    this.openLive.hidden = !this.liveCallId || (this.window.open && this.window.callId === this.liveCallId);
    this.listTitle.hidden = !calls.length;
    this.listTitle.textContent = t("calls.window.unfinished_count", { count: calls.length });
    const when = new Intl.DateTimeFormat(t.lang, { timeStyle: "short" });
    this.list.replaceChildren(...calls.map((call) => h("li", { dataset: { callId: call.id }, class: call.id === data.blocking ? "cw-blocking" : null },
      h("span", { class: "cw-list__who" }, call.remote_name || call.remote_shown || t("calls.window.unknown_number")),
      h("span", { class: "cw-hint" }, ` ${when.format(new Date(call.started_at))}`),
      h("button", {
        type: "button", class: "cw-chip", dataset: { action: "cw-reopen", callId: call.id },
        "aria-label": `${t("calls.window.reopen")}: ${call.remote_name || call.remote_shown}`,
        onclick: () => this.window.show(call.id, { focus: true }),
      }, t("calls.window.reopen")))));
  }
}

async function start() {
  const slot = document.getElementById("call-window-slot");
  if (!slot) return null;
  const lang = slot.dataset.lang || document.documentElement.lang || "en";
  let messages = {};
  try {
    const resp = await fetch("/i18n/calls.json", { credentials: "same-origin" });
    if (resp.ok) messages = (await resp.json()).messages || {};
  } catch {
    // the keys show; the window still works
  }
  const app = new CallWindowApp(slot, translator(lang, messages), new Api(slot.dataset.csrf || ""));
  // Events the softphone sent while the strings loaded: catch up from its state.
  if (softphone) {
    app.echoNumber = softphone.echoNumber;
    for (const call of softphone.calls.values()) app.onCall(call);
  }
  return app;
}

export const callWindow = await start();
