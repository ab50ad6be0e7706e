-- Refused webhook attempts (bad signature, stale timestamp) are untrusted
-- noise, not records of money: they may be deleted after their retention
-- (the sweeper drops them after 30 days), so a flood cannot fill the disk.
-- Every other delivery is still kept for good.
DROP TRIGGER webhook_deliveries_no_delete;
CREATE TRIGGER webhook_deliveries_no_delete BEFORE DELETE ON webhook_deliveries
WHEN OLD.kind <> 'rejected'
BEGIN SELECT RAISE(ABORT, 'webhook deliveries are kept'); END;
