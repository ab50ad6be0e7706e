package handlers_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
)

// BenchmarkDashboardCold is the first dashboard (GET /, the whole page)
// of a store just opened after the kernel's page cache was dropped, as
// after a restart of the machine, beside the same page warm: see
// coldFirstRequest in list_bench_test.go. Needs root; run with
// -benchtime 4x.
func BenchmarkDashboardCold(b *testing.B) {
	coldFirstRequest(b, "/", `data-testid="attention"`)
}

// dashboardSinces are the dashboard's three periods and the chart's start
// (handlers/dashboard.go): today, 7 and 30 days, UTC.
func dashboardSinces() []time.Time {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	return []time.Time{today, today.AddDate(0, 0, -6), today.AddDate(0, 0, -29)}
}

// BenchmarkDashboardFigures measures the figure reads of one dashboard as
// workOutDashboard makes them, on the bench database: three periods, the
// chart's currency and days, the outstanding amounts and the attention
// list, all from the kept figures (db/figures.go) but the attention list's
// small indexed sets. The baseline is BenchmarkDashboardFiguresFromLinks.
// Reports p50/p99 of a whole dashboard's reads.
func BenchmarkDashboardFigures(b *testing.B) {
	st := benchDB(b)
	ctx := context.Background()
	sinces := dashboardSinces()
	var t timings
	for b.Loop() {
		t.time(func() {
			var last []db.CurrencyFigures
			for _, since := range sinces {
				figs, err := st.PeriodFigures(ctx, since)
				if err != nil {
					b.Fatal(err)
				}
				last = figs
			}
			if cur := db.MostPaid(last); cur != "" {
				if _, err := st.PaidPerDay(ctx, cur, sinces[2]); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := st.StatusTotals(ctx); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			if _, err := st.AttentionList(ctx, now, now.Add(24*time.Hour)); err != nil {
				b.Fatal(err)
			}
		})
	}
	t.report(b)
}

// The dashboard's reads before the figures were kept (db/dashboard.go at
// d76fce1; db/figures_test.go keeps the same SQL as its oracle): every
// link touched in each period, read through three indexes.
const (
	fromLinksPeriod = `
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
		GROUP BY l.currency ORDER BY sum(l.created_at >= ?1) DESC, l.currency`
	fromLinksTop = `SELECT currency FROM links WHERE paid_at >= ?
		GROUP BY +currency ORDER BY count(*) DESC, currency LIMIT 1`
	fromLinksPerDay = `SELECT paid_at / 86400000 AS day, sum(amount_minor), count(*)
		FROM links WHERE paid_at >= ? AND +currency = ? GROUP BY day ORDER BY day`
	fromLinksAttention = `SELECT
		(SELECT count(*) FROM links WHERE status = 'error'),
		(SELECT count(*) FROM links WHERE status = 'open' AND expires_at >= ? AND expires_at < ?),
		(SELECT count(*) FROM webhook_deliveries WHERE outcome = 'unmatched'),
		(SELECT count(*) FROM webhook_deliveries WHERE outcome = 'unparsable')`
)

// BenchmarkDashboardFiguresFromLinks is the baseline: the same figures by
// the old queries over the links, on the same database, as the dashboard
// read them on every refresh before 0017 (the flagged-link lists, which
// both read the same way, left out of both).
func BenchmarkDashboardFiguresFromLinks(b *testing.B) {
	benchDB(b) // migrated (and seeded) as for every bench
	raw := openBenchSQL(b).db
	sinces := dashboardSinces()
	drain := func(rows *sql.Rows, err error) {
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
	}
	var t timings
	for b.Loop() {
		t.time(func() {
			for _, since := range sinces {
				drain(raw.Query(fromLinksPeriod, since.UnixMilli()))
			}
			var cur string
			if err := raw.QueryRow(fromLinksTop, sinces[2].UnixMilli()).Scan(&cur); err != nil && err != sql.ErrNoRows {
				b.Fatal(err)
			}
			drain(raw.Query(fromLinksPerDay, sinces[2].UnixMilli(), cur))
			now := time.Now()
			var n [4]int
			if err := raw.QueryRow(fromLinksAttention, now.UnixMilli(), now.Add(24*time.Hour).UnixMilli()).Scan(&n[0], &n[1], &n[2], &n[3]); err != nil {
				b.Fatal(err)
			}
		})
	}
	t.report(b)
}
