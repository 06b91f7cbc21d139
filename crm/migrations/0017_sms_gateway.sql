-- The HTTP SMS gateway an administrator sets (crm/sms_gateway.py): one row (id = 1) once
-- saved; none = no gateway, SMS from a missed-call row are recorded as sent by hand. The
-- token is Fernet ciphertext like the SMTP password ('' = none), never shown again.
CREATE TABLE sms_gateway (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    url TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT 'POST' CHECK (method IN ('POST', 'PUT')),
    body_format TEXT NOT NULL DEFAULT 'json' CHECK (body_format IN ('json', 'form', 'text')),
    body_template TEXT NOT NULL DEFAULT '',
    token_encrypted TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES users (id) ON DELETE SET NULL
);

-- How an SMS from a missed-call row went: 'manual' (recorded by hand: no gateway),
-- 'sent' (the gateway accepted it), 'failed' (it did not, or did not answer);
-- '' on rows recorded before this migration (by hand). gateway_status is the HTTP status
-- the gateway answered (NULL: no answer, or no gateway).
ALTER TABLE missed_call_actions ADD COLUMN sms_result TEXT NOT NULL DEFAULT '';
ALTER TABLE missed_call_actions ADD COLUMN gateway_status INTEGER;
