-- Tickets (crm/tickets.py): a contact's issue with its actions and a log of every change.
-- A ticket's state is not stored: it is derived from its actions' states (open while any
-- is pending or it has none, else done if any is done, else cancelled).
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    agent_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- A free-text team name, cleaned (crm/tickets.clean_group); '' for none.
    group_name TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The list's filters, each ordered by creation time (newest first).
CREATE INDEX tickets_created ON tickets (created_at);
CREATE INDEX tickets_contact_created ON tickets (contact_id, created_at);
CREATE INDEX tickets_agent_created ON tickets (agent_id, created_at);
CREATE INDEX tickets_priority_created ON tickets (priority, created_at);

CREATE TABLE ticket_actions (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
    due_at TEXT,
    agent_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The derived state (EXISTS ... state = ?) and a ticket's actions.
CREATE INDEX ticket_actions_ticket_state ON ticket_actions (ticket_id, state);
-- The calendar (ticket_store.actions_between): by due time, for everyone or one agent.
CREATE INDEX ticket_actions_due ON ticket_actions (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX ticket_actions_agent_due ON ticket_actions (agent_id, due_at)
    WHERE due_at IS NOT NULL;

-- Every change, as data: field, old and new values as shown, who (and their name then).
CREATE TABLE ticket_log (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    action_id INTEGER REFERENCES ticket_actions (id) ON DELETE SET NULL,
    field TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    user_name TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE INDEX ticket_log_ticket ON ticket_log (ticket_id, id);
