-- The agent's work on a call: notes, tags, the disposition (tabulation) and "Save and
-- finish". crm/dispositions.py and crm/call_notes.py decide what is acceptable; the
-- storage modules only keep it.

-- Disposition catalogue, defined by administrators. *_key is the case-folded name.
CREATE TABLE disposition_categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('success', 'failure')),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
);

-- A form (layout) the agent fills in with a disposition.
CREATE TABLE disposition_forms (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE disposition_form_fields (
    id INTEGER PRIMARY KEY,
    form_id INTEGER NOT NULL REFERENCES disposition_forms (id) ON DELETE CASCADE,
    -- The key submitted values are stored under; stable when the label is reworded.
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('text', 'number', 'choice', 'date')),
    required INTEGER NOT NULL DEFAULT 0 CHECK (required IN (0, 1)),
    -- JSON array of the options of a 'choice' field.
    choices TEXT NOT NULL DEFAULT '[]',
    position INTEGER NOT NULL DEFAULT 0,
    UNIQUE (form_id, name)
);

CREATE TABLE dispositions (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES disposition_categories (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    form_id INTEGER REFERENCES disposition_forms (id) ON DELETE SET NULL,
    -- NULL: every campaign/queue. Campaigns arrive later; the column is where they slot in.
    campaign_id INTEGER,
    -- Scenarios it is offered in (inbound calls, manual dialling, the dialer).
    for_inbound INTEGER NOT NULL DEFAULT 1 CHECK (for_inbound IN (0, 1)),
    for_manual INTEGER NOT NULL DEFAULT 1 CHECK (for_manual IN (0, 1)),
    for_dialer INTEGER NOT NULL DEFAULT 1 CHECK (for_dialer IN (0, 1)),
    position INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
);

CREATE UNIQUE INDEX dispositions_name ON dispositions (COALESCE(campaign_id, 0), name_key);

-- "Must disposition before the next call", per campaign; the row with a NULL campaign is
-- the default every call follows until campaigns exist.
CREATE TABLE disposition_policies (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER,
    must_disposition INTEGER NOT NULL DEFAULT 0 CHECK (must_disposition IN (0, 1)),
    updated_at TEXT NOT NULL
);

CREATE UNIQUE INDEX disposition_policies_campaign ON disposition_policies (COALESCE(campaign_id, 0));

-- One row per call record that an agent works on: the contact it is about, the
-- disposition or wrap-up shortcut chosen, the form's values and when it was finished.
CREATE TABLE call_work (
    call_id TEXT PRIMARY KEY REFERENCES call_records (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    campaign_id INTEGER,
    disposition_id INTEGER REFERENCES dispositions (id),
    wrap_up TEXT NOT NULL DEFAULT ''
        CHECK (wrap_up IN ('', 'callback', 'wrong_number', 'voicemail')),
    -- "Schedule a callback" keeps its date and time here until callbacks exist.
    callback_at TEXT,
    -- JSON object: form field name -> value.
    field_values TEXT NOT NULL DEFAULT '{}',
    finished_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX call_work_contact ON call_work (contact_id);
CREATE INDEX call_work_user_open ON call_work (user_id) WHERE finished_at IS NULL;

-- One editable note per call and agent. revision is the client's: a write carrying a
-- revision not newer than the stored one is stale (an autosave overtaken) and ignored.
CREATE TABLE call_notes (
    call_id TEXT NOT NULL REFERENCES call_records (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    revision INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (call_id, user_id)
);

CREATE TABLE call_tags (
    call_id TEXT NOT NULL REFERENCES call_records (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    tag_key TEXT NOT NULL,
    PRIMARY KEY (call_id, tag_key)
);

-- Per-user call-window settings an administrator sets; no row means the defaults.
CREATE TABLE call_window_settings (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    auto_open INTEGER NOT NULL DEFAULT 1 CHECK (auto_open IN (0, 1)),
    updated_at TEXT NOT NULL
);
