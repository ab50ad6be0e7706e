package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/paylinks/paylinks/db"
)

// link is a seeded link the virtual users search for and open, and the
// webhooks name.
type link struct {
	ID                             int64
	Key, Status, CustomerID, Email string
	Country, AmountText, Currency  string
	WebsiteRef, SMRef              string
}

// dbFacts is what the load test reads from the database before the run.
type dbFacts struct {
	Links     int64 // all links
	RealLinks int64 // links not made by seeding
	Sample    []link
}

// readDB counts the links and samples up to n of them at random. It opens
// the database read-only (query_only), before the server starts.
func readDB(ctx context.Context, path string, n int, rng *rand.Rand) (dbFacts, error) {
	var f dbFacts
	conn, err := sql.Open("sqlite", db.DSN(path, true))
	if err != nil {
		return f, err
	}
	defer conn.Close()
	var maxID sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT count(*), max(id) FROM links").Scan(&f.Links, &maxID); err != nil {
		return f, fmt.Errorf("read %s: %w", path, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM links WHERE substr(idempotency_key, 1, ?) <> ?",
		len(db.SeedKeyPrefix), db.SeedKeyPrefix).Scan(&f.RealLinks); err != nil {
		return f, err
	}
	if f.Links == 0 {
		return f, errors.New("the database holds no links; seed it (paylinks seed --links N) or name a file that does not exist")
	}
	stmt, err := conn.PrepareContext(ctx, `SELECT id, idempotency_key, status, customer_id, customer_email, country,
		amount_text, currency, COALESCE(website_reference, ''), COALESCE(sm_reference, '')
		FROM links WHERE id >= ? ORDER BY id LIMIT 1`)
	if err != nil {
		return f, err
	}
	defer stmt.Close()
	seen := map[int64]bool{}
	for tries := 0; len(f.Sample) < n && int64(len(f.Sample)) < f.Links && tries < 4*n; tries++ {
		var l link
		err := stmt.QueryRowContext(ctx, 1+rng.Int64N(maxID.Int64)).Scan(&l.ID, &l.Key, &l.Status, &l.CustomerID,
			&l.Email, &l.Country, &l.AmountText, &l.Currency, &l.WebsiteRef, &l.SMRef)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return f, err
		}
		if !seen[l.ID] {
			seen[l.ID] = true
			f.Sample = append(f.Sample, l)
		}
	}
	return f, nil
}
