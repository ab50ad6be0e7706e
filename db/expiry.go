package db

import (
	"context"
	"time"
)

// openByExpiry makes the sweeper's queries read only the open links that
// are due (links_open_expires), whatever the planner would guess without
// statistics: it prefers links_status, which holds every open link.
const openByExpiry = "INDEXED BY links_open_expires"

// ExpireLinks moves open links whose checkout session expired at or before
// now to expired, at most limit of them, each with a timeline line, in one
// transaction, and returns how many it moved. Only open links expire: a
// link in processing has a payment under way, and a payment event still
// moves an expired link to paid (flagged as paid after expiry).
func (s *Store) ExpireLinks(ctx context.Context, now time.Time, limit int) (int, error) {
	// Most sweeps find nothing: ask the read pool first and leave the
	// writer alone.
	var due bool
	if err := s.read.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM links "+openByExpiry+" WHERE status = 'open' AND expires_at <= ?)",
		ms(now)).Scan(&due); err != nil || !due {
		return 0, err
	}
	n := 0
	err := s.withTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE links SET status = 'expired', updated_at = ?
			WHERE id IN (SELECT id FROM links `+openByExpiry+` WHERE status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?)
			RETURNING id, expires_at`, ms(tx.now), ms(now), limit)
		if err != nil {
			return err
		}
		type expired struct {
			id int64
			at int64
		}
		var done []expired
		for rows.Next() {
			var e expired
			if err := rows.Scan(&e.id, &e.at); err != nil {
				rows.Close()
				return err
			}
			done = append(done, e)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range done {
			msg := "Checkout session expired at " + fromMS(e.at).Format("2 Jan 2006 15:04 UTC") +
				" with no payment event: open → expired."
			if err := insertLinkEvent(ctx, tx, e.id, "expired", 0, msg, 0); err != nil {
				return err
			}
		}
		n = len(done)
		return nil
	})
	return n, err
}
