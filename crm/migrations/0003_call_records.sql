-- One row per call leg an agent was part of, written at INVITE/dial and updated at every
-- state change (crm/call_flow.py decides the changes).
CREATE TABLE call_records (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    local_number TEXT NOT NULL,
    remote_number TEXT NOT NULL,
    remote_name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('ringing', 'dialing', 'connected', 'ended')),
    outcome TEXT CHECK (outcome IN ('completed', 'busy', 'no_answer', 'missed', 'rejected',
                                    'cancelled', 'not_found', 'unreachable', 'failed',
                                    'interrupted')),
    sip_code INTEGER,
    hangup_side TEXT CHECK (hangup_side IN ('agent', 'remote', 'system')),
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX call_records_user_started ON call_records (user_id, started_at);
CREATE INDEX call_records_remote_number ON call_records (remote_number);
-- Start-up looks for records a crash left open; few rows are ever outside 'ended'.
CREATE INDEX call_records_open ON call_records (state) WHERE state <> 'ended';
