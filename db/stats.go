package db

import (
	"context"
	"time"
)

// CountActiveSessions counts sessions still usable: seen at or after
// idleSince and created at or after createdSince (the idle and absolute
// limits). Cheap: it walks the last-seen index. For the sessions gauge of
// /metrics.
func (s *Store) CountActiveSessions(ctx context.Context, idleSince, createdSince time.Time) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE last_seen_at >= ? AND created_at >= ?`,
		ms(idleSince), ms(createdSince)).Scan(&n)
	return n, err
}
