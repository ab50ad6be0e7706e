-- A checkout session StableMint created on a host paylinks does not know
-- (not an allowed checkout host): the session is recorded (reference,
-- expiry) and its URL kept here, never in checkout_url, so nobody is sent
-- there until an admin approves the host; the link stays in 'error' with
-- the reason. Adding nullable columns rewrites no row.
ALTER TABLE links ADD COLUMN held_checkout_url TEXT;
ALTER TABLE links ADD COLUMN held_checkout_host TEXT;
CREATE INDEX links_held_checkout_host ON links(held_checkout_host) WHERE held_checkout_host IS NOT NULL;
