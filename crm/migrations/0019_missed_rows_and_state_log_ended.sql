-- Missed-call rows kept folded (crm/missed_row_store.py): one row per caller episode, as
-- crm/missed_calls.py folds it, rewritten for that caller in the same transaction as each
-- call record or action that concerns them. Pages, the badge and the statistics then read
-- an index instead of folding a month of calls. Rows are folded without the final
-- "retention ran out" step, which depends on the clock: readers apply it
-- (crm/missed_rows.py). The table starts empty: the first reader builds it from every call
-- record and action (the backfill), and rebuilds it when the numbering or the retention
-- it was folded with (missed_fold_basis) no longer matches the deployment's settings.
CREATE TABLE missed_rows (
    id INTEGER PRIMARY KEY,
    caller_key TEXT NOT NULL,
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    count INTEGER NOT NULL,
    hidden INTEGER NOT NULL CHECK (hidden IN (0, 1)),
    closure TEXT CHECK (closure IN ('got_through', 'reached', 'removed', 'expired')),
    closed_at TEXT,
    closed_by INTEGER,
    last_status TEXT NOT NULL CHECK (last_status IN ('called_back', 'sms_sent', 'no_attempt')),
    last_call_id TEXT NOT NULL,
    timeline TEXT NOT NULL
);
-- A caller's rows from a point in time on (what a change refolds).
CREATE INDEX missed_rows_key_first ON missed_rows (caller_key, first_at);
-- Every view's pages walk rows newest first; the statistics read a range of last_at.
CREATE INDEX missed_rows_last ON missed_rows (last_at, caller_key);
-- The active list and the badge's count; the hidden tab.
CREATE INDEX missed_rows_listed ON missed_rows (last_at, caller_key)
    WHERE closure IS NULL AND hidden = 0;
CREATE INDEX missed_rows_hidden ON missed_rows (last_at, caller_key)
    WHERE closure IS NULL AND hidden = 1;

-- Every spelling of a number seen in call_records, with the caller it stands for, so a
-- caller's calls are found by every way the PBX or an agent wrote the number.
CREATE TABLE missed_numbers (
    remote_number TEXT PRIMARY KEY,
    caller_key TEXT NOT NULL
);
CREATE INDEX missed_numbers_key ON missed_numbers (caller_key);

-- What missed_rows was folded with; no row: not built yet.
CREATE TABLE missed_fold_basis (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    region TEXT NOT NULL,
    area_code TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    built_at TEXT NOT NULL
);

-- The agent-state report reads the log rows that end inside or after its period (plus the
-- open ones): with this index that is a range, not every row since the log began.
CREATE INDEX agent_state_log_ended ON agent_state_log (ended_at);
