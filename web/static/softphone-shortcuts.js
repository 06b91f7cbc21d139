// Keyboard shortcuts for the softphone: answer, hang up (or decline), hold, mute, keypad.
//
// Why Alt+Shift+letter: plain letters and Ctrl combinations belong to the forms an agent
// types in during a call (notes, contacts) and to the browser; Alt+Shift+letter types
// nothing on Windows and Linux and the browsers leave it free. The letter is matched by
// its key position (`event.code`), so it works the same with a Spanish, Portuguese or
// Polish layout, and Polish AltGr letters (Ctrl+Alt) never trigger it.
//
// `shortcutAction(event)` is the pure mapping; `Shortcuts` listens on document and acts
// on the softphone's current call. Test hook: the buttons' aria-keyshortcuts.

/** The shortcuts, in the order the settings panel lists them. */
export const SHORTCUTS = Object.freeze([
  { action: "answer", code: "KeyA", letter: "A" },
  { action: "hangup", code: "KeyX", letter: "X" },
  { action: "hold", code: "KeyH", letter: "H" },
  { action: "mute", code: "KeyM", letter: "M" },
  { action: "keypad", code: "KeyK", letter: "K" },
]);

/** "Alt+Shift+A": the form aria-keyshortcuts wants (and what the panel shows). */
export function keysOf(action) {
  const found = SHORTCUTS.find((shortcut) => shortcut.action === action);
  return found ? `Alt+Shift+${found.letter}` : "";
}

/** The action a keydown asks for, or null. Pure: takes the event's fields only. */
export function shortcutAction({ code, altKey, shiftKey, ctrlKey, metaKey, repeat }) {
  if (!altKey || !shiftKey || ctrlKey || metaKey || repeat) return null;
  const found = SHORTCUTS.find((shortcut) => shortcut.code === code);
  return found ? found.action : null;
}

// The call buttons each shortcut presses (the hang-up key also declines a ringing call).
const BUTTONS = { answer: ["answer"], hangup: ["hangup", "reject"], hold: ["hold"], mute: ["mute"] };

export class Shortcuts {
  constructor(softphone) {
    this.sp = softphone;
    this.onKey = (event) => this.handle(event);
    document.addEventListener("keydown", this.onKey);
    this.label = () => this.labelButtons();
    softphone.root.addEventListener("softphone:call", this.label);
    this.labelButtons();
  }

  /** Run the action for `event`; returns the action taken, or null. */
  handle(event) {
    const action = shortcutAction(event);
    if (!action || event.defaultPrevented) return null;
    const done = this.run(action);
    if (done) event.preventDefault();
    return done ? action : null;
  }

  run(action) {
    const sp = this.sp;
    const live = [...sp.calls.values()].filter((call) => ["dialing", "ringing", "connected"].includes(call.state));
    const ringing = live.find((call) => call.state === "ringing" && call.direction === "inbound");
    const connected = live.find((call) => call.state === "connected");
    switch (action) {
      case "answer":
        return ringing ? sp.answer(ringing.call_id) : false;
      case "hangup": {
        if (ringing) return sp.reject(ringing.call_id);
        const call = connected || live[0];
        return call ? sp.hangup(call.call_id) : false;
      }
      case "hold":
        if (!connected || connected.remote === sp.echoNumber) return false;
        return connected.held ? sp.unhold(connected.call_id) : sp.hold(connected.call_id);
      case "mute":
        if (!connected) return false;
        sp.setMuted(!sp.muted);
        sp.announce(sp.t(sp.muted ? "muted" : "unmuted"));
        return true;
      case "keypad": {
        if (sp.dialer.hidden) return false;
        const key = sp.keypad.hidden ? null : sp.keypad.querySelector(".sp-key[tabindex='0']");
        const target = key || (sp.numberRow.hidden ? null : sp.number);
        if (!target) return false;
        target.focus();
        return true;
      }
      default:
        return false;
    }
  }

  /** Put each shortcut on its buttons (new call cards come with every call event). */
  labelButtons() {
    const t = this.sp.t;
    for (const [action, names] of Object.entries(BUTTONS)) {
      const keys = keysOf(action);
      for (const name of names) {
        for (const button of this.sp.root.querySelectorAll(`button[data-action="${name}"]`)) {
          button.setAttribute("aria-keyshortcuts", keys);
          button.title = t("shortcut_hint", { keys });
        }
      }
    }
    this.sp.keypad.setAttribute("aria-keyshortcuts", keysOf("keypad"));
  }

  /** The list the settings panel shows: [{ keys, label }]. */
  list() {
    return SHORTCUTS.map(({ action }) => ({ keys: keysOf(action), label: this.sp.t(`shortcut_${action}`) }));
  }

  destroy() {
    document.removeEventListener("keydown", this.onKey);
    this.sp.root.removeEventListener("softphone:call", this.label);
  }
}
