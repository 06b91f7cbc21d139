// The agent's working state above the softphone: status, time in it, and the buttons
// to log in, pause with a reason, resume and log out (POST /api/agent/state).
//
// The server is the source of truth: the state is fetched on load, when the tab comes
// back into view, every 30 s, and whenever the softphone reports that it changed (a
// keypad code such as **2 or another tab).

const REFRESH_MS = 30000;

const root = document.querySelector("[data-agent-status]");

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function elapsed(sinceMs) {
  const seconds = Math.max(0, Math.floor((Date.now() - sinceMs) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

class AgentStatus {
  constructor(element) {
    this.root = element;
    this.words = JSON.parse(element.dataset.words);
    this.dot = element.querySelector("[data-status-dot]");
    this.text = element.querySelector("[data-status-text]");
    this.timer = element.querySelector("[data-status-timer]");
    this.select = element.querySelector("[data-pause-select]");
    this.error = element.querySelector("[data-status-error]");
    this.buttons = {};
    for (const button of element.querySelectorAll("[data-agent-action]")) {
      this.buttons[button.dataset.agentAction] = button;
      button.addEventListener("click", () => this.change(button.dataset.agentAction));
    }
    this.state = null;
    this.busy = false;
  }

  start() {
    this.refresh();
    setInterval(() => this.tick(), 1000);
    setInterval(() => this.refresh(), REFRESH_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.refresh();
    });
    document.addEventListener("softphone:agent_state", () => this.refresh());
  }

  async refresh() {
    try {
      const response = await fetch("/api/agent/state", { credentials: "same-origin" });
      if (response.ok) this.render(await response.json());
    } catch {
      // Offline for a moment: the next refresh tries again.
    }
  }

  async change(action) {
    if (this.busy) return;
    const body = { event: action };
    if (action === "pause") body.pause_code = this.select.value;
    this.busy = true;
    this.showError("");
    try {
      const response = await fetch("/api/agent/state", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (response.ok) this.render(answer);
      else this.showError(answer.message || this.words.unavailable);
    } catch {
      this.showError(this.words.unavailable);
    } finally {
      this.busy = false;
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  render(state) {
    this.state = state;
    this.since = Date.parse(state.since);
    this.root.hidden = false;
    this.root.dataset.status = state.status;
    this.text.textContent = state.status === "paused" && state.pause
      ? this.words.paused_reason.replace("{reason}", state.pause.name)
      : this.words[state.status];
    const chosen = this.select.value;
    this.select.replaceChildren(...state.pause_codes.map((code) => {
      const option = document.createElement("option");
      option.value = code.code;
      option.textContent = code.name;
      return option;
    }));
    if (chosen) this.select.value = chosen;
    const show = {
      login: state.status === "logged_out",
      pause: state.status !== "logged_out" && state.pause_codes.length > 0,
      resume: state.status === "paused",
      logout: state.status !== "logged_out",
    };
    for (const [action, button] of Object.entries(this.buttons)) button.hidden = !show[action];
    this.select.hidden = !show.pause;
    this.tick();
  }

  tick() {
    if (this.state && this.state.status !== "logged_out") {
      this.timer.textContent = elapsed(this.since);
    } else {
      this.timer.textContent = "";
    }
  }
}

if (root) new AgentStatus(root).start();
