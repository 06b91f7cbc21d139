-- Contacts: people and companies. search_key is the name and email folded (case and
-- accents) for the list's search box; name_key orders the list.
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    search_key TEXT NOT NULL,
    -- A person's company is itself a contact (kind 'company').
    company_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    email TEXT NOT NULL DEFAULT '',
    owner_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- JSON object of free fields, name -> text.
    fields TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX contacts_name ON contacts (name_key, id);
CREATE INDEX contacts_company ON contacts (company_id);
CREATE INDEX contacts_owner ON contacts (owner_id);

-- Several numbers per contact, stored E.164 (crm/phone_numbers.py). Caller-ID matching
-- is a lookup on contact_phones_e164.
CREATE TABLE contact_phones (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    label TEXT NOT NULL CHECK (label IN ('mobile', 'work', 'home', 'other')),
    e164 TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    UNIQUE (contact_id, e164)
);

CREATE INDEX contact_phones_e164 ON contact_phones (e164);

-- Tags and lists a contact belongs to, by name; *_key is the case-folded name.
CREATE TABLE contact_tags (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    tag_key TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag_key)
);

CREATE INDEX contact_tags_key ON contact_tags (tag_key);

CREATE TABLE contact_lists (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    list TEXT NOT NULL,
    list_key TEXT NOT NULL,
    PRIMARY KEY (contact_id, list_key)
);

CREATE INDEX contact_lists_key ON contact_lists (list_key);
