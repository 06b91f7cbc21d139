-- The deployment settings page: one row (id = 1) once an admin saves it; until then the
-- TOML/environment values are the defaults. The SMTP password is Fernet ciphertext, like
-- SIP passwords ('' = none).
CREATE TABLE deployment_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    region TEXT NOT NULL,
    area_code TEXT NOT NULL DEFAULT '',
    target_talk_seconds INTEGER NOT NULL,
    company_name TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL CHECK (language IN ('en', 'es', 'pt-BR', 'pl')),
    missed_retention_days INTEGER NOT NULL,
    smtp_host TEXT NOT NULL DEFAULT '',
    smtp_port INTEGER NOT NULL DEFAULT 587,
    smtp_security TEXT NOT NULL DEFAULT 'starttls'
        CHECK (smtp_security IN ('none', 'starttls', 'tls')),
    smtp_from TEXT NOT NULL DEFAULT '',
    smtp_user TEXT NOT NULL DEFAULT '',
    smtp_password_encrypted TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES users (id) ON DELETE SET NULL
);

-- Missed calls are derived from call_records (crm/missed_calls.py folds them); what
-- people do to a row is kept here: hide, restore, remove, and SMS attempts. caller_key is
-- the row's key (E.164 of the caller, else the number as the PBX sent it).
CREATE TABLE missed_call_actions (
    id INTEGER PRIMARY KEY,
    caller_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hide', 'restore', 'remove', 'sms')),
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    at TEXT NOT NULL
);
CREATE INDEX missed_call_actions_key_at ON missed_call_actions (caller_key, at);
CREATE INDEX missed_call_actions_at ON missed_call_actions (at);

-- Unanswered inbound legs are few next to all calls: the list starts from them.
CREATE INDEX call_records_inbound_unanswered ON call_records (started_at)
    WHERE direction = 'inbound' AND answered_at IS NULL;
-- The calls that answer or follow up a missed call are found by number and time.
CREATE INDEX call_records_remote_started ON call_records (remote_number, started_at);
-- The badge recomputes only when a call record changed (MAX(updated_at), web/missed_badge.py).
CREATE INDEX call_records_updated ON call_records (updated_at);

-- "E-mail me about each new missed call" (profile), with the address to write to.
CREATE TABLE missed_call_subscriptions (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Missed calls already announced by e-mail (the attempt's first leg), so a restart or a
-- second look never sends one twice.
CREATE TABLE missed_call_notices (
    call_record_id TEXT PRIMARY KEY,
    sent_at TEXT NOT NULL
);
