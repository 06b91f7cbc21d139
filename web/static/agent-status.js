// The agent's working state above the softphone: status, time in it, and the buttons
// to log in, pause with a reason, resume and log out (POST /api/agent/state); below them
// a checkbox per queue and campaign the agent is a member of (ticked = logged in to
// it), and, when logged in to several campaigns, which one their calls belong to.
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
    this.queueBox = element.querySelector("[data-agent-queues]");
    this.groups = {};
    for (const group of element.querySelectorAll("[data-queue-group]")) {
      this.groups[group.dataset.queueGroup] = group;
      group.querySelector("legend").textContent = this.words[group.dataset.queueGroup];
    }
    this.campaignPick = element.querySelector("[data-campaign-pick]");
    this.campaignSelect = element.querySelector("[data-campaign-select]");
    this.campaignSelect.addEventListener("change", () => {
      if (this.campaignSelect.value) this.send({ event: "choose_campaign", queue: this.campaignSelect.value });
    });
    this.buttons = {};
    for (const button of element.querySelectorAll("[data-agent-action]")) {
      this.buttons[button.dataset.agentAction] = button;
      button.addEventListener("click", () => this.change(button.dataset.agentAction));
    }
    this.state = null;
    this.queue = Promise.resolve();
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
    const body = { event: action };
    if (action === "pause") body.pause_code = this.select.value;
    await this.send(body);
  }

  // One request at a time, in order: ticking two boxes quickly sends both, and the
  // second answer (the latest state) is the one shown.
  send(body) {
    this.queue = this.queue.then(() => this.post(body));
    return this.queue;
  }

  async post(body) {
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
      else {
        this.showError(answer.message || this.words.unavailable);
        this.refresh(); // undo a checkbox the server refused
      }
    } catch {
      this.showError(this.words.unavailable);
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
    this.renderQueues(state);
    this.tick();
  }

  renderQueues(state) {
    const queues = state.queues || [];
    const campaigns = state.campaigns || [];
    this.queueBox.hidden = queues.length + campaigns.length === 0;
    this.fillGroup(this.groups.queues, queues);
    this.fillGroup(this.groups.campaigns, campaigns);
    const mine = campaigns.filter((c) => c.logged_in);
    this.campaignPick.hidden = mine.length < 2;
    const options = [];
    if (!state.campaign) {
      const none = document.createElement("option");
      none.value = "";
      none.textContent = this.words.no_campaign;
      options.push(none);
    }
    for (const campaign of mine) {
      const option = document.createElement("option");
      option.value = campaign.ref;
      option.textContent = campaign.name;
      options.push(option);
    }
    this.campaignSelect.replaceChildren(...options);
    this.campaignSelect.value = state.campaign || "";
  }

  fillGroup(group, items) {
    group.hidden = items.length === 0;
    const list = group.querySelector("ul");
    // Keep focus on the box the agent just used: rebuild only what changed.
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.queueRef : null;
    list.replaceChildren(...items.map((item) => {
      const row = document.createElement("li");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = `agent-q-${item.ref.replace(":", "-")}`;
      box.dataset.queueRef = item.ref;
      box.checked = item.logged_in;
      box.disabled = item.running === false && !item.logged_in;
      box.addEventListener("change", () => {
        this.send({ event: box.checked ? "login" : "logout", queue: item.ref });
      });
      const label = document.createElement("label");
      label.htmlFor = box.id;
      label.textContent = item.name;
      row.append(box, label);
      if (item.running === false) {
        const note = document.createElement("span");
        note.className = "sub";
        note.textContent = this.words.not_running;
        row.append(note);
      }
      return row;
    }));
    if (focused) {
      const again = list.querySelector(`[data-queue-ref="${focused}"]`);
      if (again) again.focus();
    }
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
