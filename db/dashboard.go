package db

import (
	"context"
	"time"
)

// Attention holds what staff must look at.
type Attention struct {
	ErrorLinks      int
	ExpiringSoon    int // open links expiring within the window
	Unmatched       int
	Unparsable      int
	PaidAfterExpiry []Link
	PaidAfterCancel []Link
	NeedsReview     []Link
}

// AttentionList gathers the dashboard's "needs attention" figures: links
// in error, open links expiring before `expiringBefore`, unmatched and
// unparsable webhook events, links paid after expiry or after they were
// cancelled, and links whose
// events' amount or currency differed (the newest 10 of each).
func (s *Store) AttentionList(ctx context.Context, now, expiringBefore time.Time) (Attention, error) {
	var a Attention
	// Links in error from the kept figures (migrations/0017_figures.sql);
	// the rest are counts over small indexed sets: open links by their
	// expiry (links_open_expires: the planner would otherwise walk every
	// open link through links_status), events by outcome (the covering
	// webhook_events_triage).
	err := s.read.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(sum(links), 0) FROM figures_status WHERE status = 'error'),
		(SELECT count(*) FROM links INDEXED BY links_open_expires WHERE status = 'open' AND expires_at >= ? AND expires_at < ?),
		(SELECT count(*) FROM webhook_deliveries WHERE outcome = 'unmatched'),
		(SELECT count(*) FROM webhook_deliveries WHERE outcome = 'unparsable')`,
		ms(now), ms(expiringBefore)).Scan(&a.ErrorLinks, &a.ExpiringSoon, &a.Unmatched, &a.Unparsable)
	if err != nil {
		return a, err
	}
	if a.PaidAfterExpiry, err = queryLinks(ctx, s.read, "SELECT "+linkCols+linkFrom+" WHERE l.paid_after_expiry = 1 ORDER BY l.id DESC LIMIT 10"); err != nil {
		return a, err
	}
	if a.PaidAfterCancel, err = queryLinks(ctx, s.read, "SELECT "+linkCols+linkFrom+" WHERE l.paid_after_cancel = 1 ORDER BY l.id DESC LIMIT 10"); err != nil {
		return a, err
	}
	a.NeedsReview, err = queryLinks(ctx, s.read, "SELECT "+linkCols+linkFrom+" WHERE l.needs_review = 1 ORDER BY l.id DESC LIMIT 10")
	return a, err
}
