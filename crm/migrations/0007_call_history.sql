-- Call history: each call record knows the remote number as an E.164 key and, when
-- caller-ID found exactly one contact for it, that contact.
--
-- remote_e164 is NULL until the number has been read (crm/call_records.link_pending does
-- it for rows written without the deployment's numbering plan), '' when it is not a
-- public number (an extension, "anonymous", garbage), else the E.164 key.
ALTER TABLE call_records ADD COLUMN remote_e164 TEXT;
ALTER TABLE call_records ADD COLUMN contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL;

-- The history page's filters, all ordered by time (call_records_user_started exists).
CREATE INDEX call_records_started ON call_records (started_at);
CREATE INDEX call_records_contact_started ON call_records (contact_id, started_at);
CREATE INDEX call_records_direction_started ON call_records (direction, started_at);
-- A contact's history also finds calls from its numbers that were not linked to it.
CREATE INDEX call_records_remote_e164 ON call_records (remote_e164);
-- Rows still to be read; almost always empty.
CREATE INDEX call_records_unread ON call_records (started_at) WHERE remote_e164 IS NULL;
