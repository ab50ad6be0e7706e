-- Each person sees times in their own time zone (an IANA name such as
-- Europe/Berlin, chosen on their Account page); UTC until they choose.
-- The name is checked against the time zone database when it is saved
-- (handlers/zone.go); exports and stored times stay UTC.
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC' CHECK (time_zone <> '' AND length(time_zone) <= 64);
