-- Scheduled outgoing calls (callbacks). crm/callbacks.py decides; crm/callback_store.py
-- keeps them. "Expired" is not stored: a pending callback past due_at + expiry_seconds is
-- expired, computed from the clock, so no job has to run for it to happen.

CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Queues and campaigns do not exist yet: a cleaned free-text name, and its folded
    -- form for filtering.
    queue TEXT NOT NULL DEFAULT '',
    queue_key TEXT NOT NULL DEFAULT '',
    contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    due_at TEXT NOT NULL,
    expiry_seconds INTEGER NOT NULL CHECK (expiry_seconds > 0),
    reason TEXT NOT NULL DEFAULT '',
    reason_key TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'discarded')),
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    -- The call whose wrap-up asked for this callback, if any (call_records.id).
    source_call_id TEXT
);

CREATE INDEX callbacks_user_due ON callbacks (user_id, due_at);
CREATE INDEX callbacks_due ON callbacks (due_at);
CREATE UNIQUE INDEX callbacks_source_call ON callbacks (source_call_id)
    WHERE source_call_id IS NOT NULL;

CREATE TABLE callback_phones (
    callback_id INTEGER NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    number TEXT NOT NULL,
    PRIMARY KEY (callback_id, position)
);

CREATE INDEX callback_phones_number ON callback_phones (number);

CREATE TABLE callback_links (
    callback_id INTEGER NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (callback_id, position)
);

-- Who did what when. due_at / user_id carry the new value for postponed / assigned.
CREATE TABLE callback_events (
    id INTEGER PRIMARY KEY,
    callback_id INTEGER NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('created', 'assigned', 'postponed', 'completed',
                                       'discarded')),
    by_user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    at TEXT NOT NULL,
    user_id INTEGER,
    due_at TEXT
);

CREATE INDEX callback_events_callback ON callback_events (callback_id, id);
