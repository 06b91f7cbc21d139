-- The contact list's "last activity" and "disposition" filters at a million contacts,
-- and the email lookup that finds an import's duplicates.
--
-- A contact's calls are call records linked to it (call_records.contact_id, or the
-- contact the agent picked in the call window, call_work.contact_id, which wins).
-- Reading them per contact for every page would join every contact with its calls, so
-- the server keeps two facts on the contact itself (crm/contact_activity.py):
--
-- last_activity_at     when its latest call started (NULL: never called);
-- last_disposition_id  the disposition of its latest call that has one, and
-- last_disposition_at  when that call started (a disposition saved late for an older
--                      call does not replace a newer call's).
ALTER TABLE contacts ADD COLUMN last_activity_at TEXT;
ALTER TABLE contacts ADD COLUMN last_disposition_id INTEGER
    REFERENCES dispositions (id) ON DELETE SET NULL;
ALTER TABLE contacts ADD COLUMN last_disposition_at TEXT;

-- Backfill from the calls already recorded.
UPDATE contacts SET last_activity_at = a.at
FROM (SELECT COALESCE(w.contact_id, r.contact_id) AS contact_id, MAX(r.started_at) AS at
      FROM call_records r LEFT JOIN call_work w ON w.call_id = r.id
      WHERE COALESCE(w.contact_id, r.contact_id) IS NOT NULL
      GROUP BY COALESCE(w.contact_id, r.contact_id)) AS a
WHERE contacts.id = a.contact_id;

UPDATE contacts SET last_disposition_id = d.disposition_id, last_disposition_at = d.at
FROM (SELECT contact_id, disposition_id, at FROM (
        SELECT COALESCE(w.contact_id, r.contact_id) AS contact_id, w.disposition_id,
               r.started_at AS at,
               ROW_NUMBER() OVER (PARTITION BY COALESCE(w.contact_id, r.contact_id)
                                  ORDER BY r.started_at DESC, r.id DESC) AS n
        FROM call_work w JOIN call_records r ON r.id = w.call_id
        WHERE w.disposition_id IS NOT NULL
          AND COALESCE(w.contact_id, r.contact_id) IS NOT NULL)
      WHERE n = 1) AS d
WHERE contacts.id = d.contact_id;

-- Each filter is an indexed range or lookup (crm/contact_search.py counts it, capped,
-- and either fetches its ids or walks the name index testing each row).
CREATE INDEX contacts_last_activity ON contacts (last_activity_at);
CREATE INDEX contacts_last_disposition ON contacts (last_disposition_id);


-- An import finds the contacts that already have a row's email (crm/contact_import.py).
CREATE INDEX contacts_email ON contacts (lower(email)) WHERE email <> '';
