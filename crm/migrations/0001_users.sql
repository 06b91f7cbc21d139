-- People who log in. username_key is the case-folded username: uniqueness and lookups
-- ignore case without relying on a collation PostgreSQL would not share.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    -- '' follows the browser's Accept-Language.
    language TEXT NOT NULL DEFAULT '' CHECK (language IN ('', 'en', 'es', 'pt-BR', 'pl')),
    password_hash TEXT NOT NULL,
    dialer_enabled INTEGER NOT NULL DEFAULT 0 CHECK (dialer_enabled IN (0, 1)),
    dialer_user_toggle_allowed INTEGER NOT NULL DEFAULT 0
        CHECK (dialer_user_toggle_allowed IN (0, 1)),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
);
