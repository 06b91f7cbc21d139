-- The deployment's time zone (IANA name): pages, exports and the calendar show instants
-- in it, and dates people type are read in it. Stored instants stay UTC.
ALTER TABLE deployment_settings ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
