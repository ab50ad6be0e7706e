-- When a link became paid, for the dashboard's paid-per-day figures. Set
-- once, by a trigger, the first time the status reaches paid or settled.
ALTER TABLE links ADD COLUMN paid_at INTEGER;
CREATE INDEX links_paid_at ON links(paid_at) WHERE paid_at IS NOT NULL;

CREATE TRIGGER links_paid_at AFTER UPDATE OF status ON links
WHEN NEW.status IN ('paid', 'settled') AND NEW.paid_at IS NULL
BEGIN
    UPDATE links SET paid_at = NEW.updated_at WHERE id = NEW.id;
END;

-- Links paid before this migration: their last change is the best estimate.
UPDATE links SET paid_at = updated_at WHERE status IN ('paid', 'settled') AND paid_at IS NULL;
