-- Contact search at a million rows: a trigram full-text index over contacts.search_key.
--
-- search_key (written by crm/contacts.py, search_key()) holds, one per line, the folded
-- name, email and company name and the digits of every E.164 number, so a typed "lodz",
-- "firma.pl", "acme" or "99999" is a substring match that the trigram index answers
-- without reading every row (a LIKE '%...%' did). The index stores no copy of the text
-- (external content); the triggers keep it in step with the contacts table.

-- Rows written before this migration get the company (its folded name) and the phone
-- digits added to their key; this runs before the triggers exist, then 'rebuild' below
-- indexes every row once.
UPDATE contacts SET search_key = search_key
    || char(10) || COALESCE((SELECT co.name_key FROM contacts co
                             WHERE co.id = contacts.company_id), '')
    || char(10) || COALESCE((SELECT group_concat(substr(p.e164, 2), ' ')
                             FROM contact_phones p WHERE p.contact_id = contacts.id), '');

CREATE VIRTUAL TABLE contact_fts USING fts5(
    search_key,
    content = 'contacts',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contact_fts (rowid, search_key) VALUES (new.id, new.search_key);
END;

CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contact_fts (contact_fts, rowid, search_key)
    VALUES ('delete', old.id, old.search_key);
END;

CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_key ON contacts BEGIN
    INSERT INTO contact_fts (contact_fts, rowid, search_key)
    VALUES ('delete', old.id, old.search_key);
    INSERT INTO contact_fts (rowid, search_key) VALUES (new.id, new.search_key);
END;

INSERT INTO contact_fts (contact_fts) VALUES ('rebuild');

-- The list filtered by owner or company, in name order, without a sort. They replace
-- the single-column indexes, which they cover.
DROP INDEX contacts_owner;
DROP INDEX contacts_company;
CREATE INDEX contacts_owner_name ON contacts (owner_id, name_key, id);
CREATE INDEX contacts_company_name ON contacts (company_id, name_key, id);

-- The company pick lists, by name, without reading the people.
CREATE INDEX contacts_kind_name ON contacts (kind, name_key, id);
