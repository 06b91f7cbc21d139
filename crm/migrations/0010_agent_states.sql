-- Agent states (crm/agent_states.py decides the changes): pause codes defined by
-- administrators, each agent's current status, and a log of every change for reports.

-- A pause reason. ``code`` is what the agent dials after **2, so it is digits only.
CREATE TABLE pause_codes (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- Productive pauses (training, back office) count as work time in reports.
    productive INTEGER NOT NULL DEFAULT 0 CHECK (productive IN (0, 1)),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
);

CREATE TABLE agent_states (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('logged_out', 'available', 'paused', 'wrap_up')),
    pause_code_id INTEGER REFERENCES pause_codes (id),
    since TEXT NOT NULL
);

-- One row per status an agent was in; ended_at is NULL for the current one.
CREATE TABLE agent_state_log (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('logged_out', 'available', 'paused', 'wrap_up')),
    pause_code_id INTEGER REFERENCES pause_codes (id),
    -- Who asked: the page, a keypad code, or the system (softphone online/offline).
    source TEXT NOT NULL CHECK (source IN ('page', 'keypad', 'system')),
    started_at TEXT NOT NULL,
    ended_at TEXT
);

CREATE INDEX agent_state_log_user_started ON agent_state_log (user_id, started_at);
CREATE INDEX agent_state_log_started ON agent_state_log (started_at);
