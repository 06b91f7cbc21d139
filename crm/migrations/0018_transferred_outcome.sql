-- migrate: foreign keys off
-- A call the agent handed on by a blind or attended transfer ends with the outcome
-- 'transferred' (crm/call_flow.py). SQLite cannot widen a CHECK in place, so the table
-- is rebuilt with the same columns and indexes; call_work, call_notes, call_tags,
-- callbacks and call_quality keep pointing at the same ids.
CREATE TABLE call_records_new (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    local_number TEXT NOT NULL,
    remote_number TEXT NOT NULL,
    remote_name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('ringing', 'dialing', 'connected', 'ended')),
    outcome TEXT CHECK (outcome IN ('completed', 'busy', 'no_answer', 'missed', 'rejected',
                                    'cancelled', 'not_found', 'unreachable', 'failed',
                                    'interrupted', 'transferred')),
    sip_code INTEGER,
    hangup_side TEXT CHECK (hangup_side IN ('agent', 'remote', 'system')),
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    remote_e164 TEXT,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL
);
INSERT INTO call_records_new (id, user_id, direction, local_number, remote_number,
    remote_name, state, outcome, sip_code, hangup_side, started_at, answered_at, ended_at,
    created_at, updated_at, remote_e164, contact_id)
SELECT id, user_id, direction, local_number, remote_number, remote_name, state, outcome,
    sip_code, hangup_side, started_at, answered_at, ended_at, created_at, updated_at,
    remote_e164, contact_id
FROM call_records;
DROP TABLE call_records;
ALTER TABLE call_records_new RENAME TO call_records;
CREATE INDEX call_records_user_started ON call_records (user_id, started_at);
CREATE INDEX call_records_remote_number ON call_records (remote_number);
CREATE INDEX call_records_open ON call_records (state) WHERE state <> 'ended';
CREATE INDEX call_records_started ON call_records (started_at);
CREATE INDEX call_records_contact_started ON call_records (contact_id, started_at);
CREATE INDEX call_records_direction_started ON call_records (direction, started_at);
CREATE INDEX call_records_remote_e164 ON call_records (remote_e164);
CREATE INDEX call_records_unread ON call_records (started_at) WHERE remote_e164 IS NULL;
CREATE INDEX call_records_inbound_unanswered ON call_records (started_at)
    WHERE direction = 'inbound' AND answered_at IS NULL;
CREATE INDEX call_records_remote_started ON call_records (remote_number, started_at);
CREATE INDEX call_records_updated ON call_records (updated_at);
