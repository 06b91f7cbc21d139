-- Browser sessions (web/sessions.py). Only a SHA-256 of the session id is stored, so a
-- copy of the database does not log anyone in.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE INDEX web_sessions_user ON web_sessions (user_id);
