-- The contact list by name with filters, at a million contacts, without reading rows.
--
-- A filtered page in name order walks the name index from its cursor and tests each
-- entry (crm/contact_search.py). The filters on the contact itself (last call, last
-- disposition, owner, company) read columns the old index (name_key, id) did not hold,
-- so every step of the walk read a row somewhere in the table. This index carries them:
-- the walk answers those filters from the index alone, and tags and lists are a probe
-- of their primary keys. It replaces contacts_name, whose columns it begins with.
DROP INDEX contacts_name;
CREATE INDEX contacts_name ON contacts (name_key, id, last_activity_at, last_disposition_id,
                                        owner_id, company_id);
