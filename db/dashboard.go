package db

import (
	"context"
	"time"
)

// CurrencyFigures are one currency's numbers over a period. Amounts are
// minor units of that currency; different currencies are never added up.
type CurrencyFigures struct {
	Currency                                string
	Created, Paid, Settled, Failed, Expired int
	CreatedMinor, PaidMinor, SettledMinor   int64
}

// PeriodFigures counts, per currency, links created since `since` and what
// happened since then: paid (paid_at in the period, still paid or settled),
// settled (of those, now settled), failed and expired (status reached in
// the period, by the link's last change). The links in question are found
// through three indexes (created, paid, finished) and only they are read:
// a million-link table is never scanned.
func (s *Store) PeriodFigures(ctx context.Context, since time.Time) ([]CurrencyFigures, error) {
	rows, err := s.read.QueryContext(ctx, `
		WITH ids(id) AS (
			SELECT id FROM links WHERE created_at >= ?1
			UNION SELECT id FROM links WHERE paid_at >= ?1
			UNION SELECT id FROM links WHERE status IN ('failed', 'expired') AND updated_at >= ?1)
		SELECT l.currency,
			sum(l.created_at >= ?1), sum(CASE WHEN l.created_at >= ?1 THEN l.amount_minor ELSE 0 END),
			sum(COALESCE(l.paid_at >= ?1, 0)), sum(CASE WHEN l.paid_at >= ?1 THEN l.amount_minor ELSE 0 END),
			sum(COALESCE(l.paid_at >= ?1, 0) AND l.status = 'settled'), sum(CASE WHEN l.paid_at >= ?1 AND l.status = 'settled' THEN l.amount_minor ELSE 0 END),
			sum(l.status = 'failed' AND l.updated_at >= ?1), sum(l.status = 'expired' AND l.updated_at >= ?1)
		FROM ids CROSS JOIN links l ON l.id = ids.id
		GROUP BY l.currency ORDER BY sum(l.created_at >= ?1) DESC, l.currency`, ms(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CurrencyFigures
	for rows.Next() {
		var f CurrencyFigures
		if err := rows.Scan(&f.Currency, &f.Created, &f.CreatedMinor, &f.Paid, &f.PaidMinor, &f.Settled, &f.SettledMinor,
			&f.Failed, &f.Expired); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DayAmount is the paid total of one day (UTC) in one currency.
type DayAmount struct {
	Day   time.Time
	Minor int64
	Count int
}

// PaidPerDay returns, for currency, the paid amount per UTC day from since
// (inclusive); days without payments are absent.
func (s *Store) PaidPerDay(ctx context.Context, currency string, since time.Time) ([]DayAmount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT paid_at / 86400000 AS day, sum(amount_minor), count(*)
		FROM links WHERE paid_at >= ? AND +currency = ? GROUP BY day ORDER BY day`, ms(since), currency) // +: by paid_at's index
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DayAmount
	for rows.Next() {
		var day int64
		var d DayAmount
		if err := rows.Scan(&day, &d.Minor, &d.Count); err != nil {
			return nil, err
		}
		d.Day = time.UnixMilli(day * 86400000).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// TopPaidCurrency is the currency with the most paid links since `since`,
// or "" when none was paid.
func (s *Store) TopPaidCurrency(ctx context.Context, since time.Time) (string, error) {
	var c string
	// GROUP BY +currency: read by paid_at's index, not the whole table in
	// currency order.
	err := s.read.QueryRowContext(ctx, `SELECT currency FROM links WHERE paid_at >= ?
		GROUP BY +currency ORDER BY count(*) DESC, currency LIMIT 1`, ms(since)).Scan(&c)
	if err = mapErr(err); err == ErrNotFound {
		return "", nil
	}
	return c, err
}

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
	err := s.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM links WHERE status = 'error'),
		(SELECT count(*) FROM links WHERE status = 'open' AND expires_at >= ? AND expires_at < ?),
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
