-- One SIP account (extension) per user. The password is Fernet ciphertext; the key lives
-- in <data_dir>/secret.key, never in this file.
CREATE TABLE sip_accounts (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    extension TEXT NOT NULL UNIQUE,
    auth_user TEXT NOT NULL,
    password_encrypted TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    -- JSON array of the numbers this user may present as caller ID.
    caller_ids TEXT NOT NULL DEFAULT '[]',
    updated_at TEXT NOT NULL
);
