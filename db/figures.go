package db

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"
)

// The dashboard's figures live in three tables that triggers on links keep
// in the transaction of every change: figures_daily (per UTC day and
// currency) and figures_status (per status and currency, now), made by
// migrations/0017_figures.sql, and figures_pay_time (per UTC paid day,
// currency and time-to-pay bucket), made by
// migrations/0023_figures_pay_time.sql. The dashboard reads them only: a
// few hundred to a few thousand rows, never the links.

const dayMS = 86400000

// day is t's UTC day number, as the figures tables key it.
func day(t time.Time) int64 { return ms(t) / dayMS }

// CurrencyFigures are one currency's numbers over a period. Amounts are
// minor units of that currency; different currencies are never added up.
type CurrencyFigures struct {
	Currency                                           string
	Created, Paid, Settled, Failed, Expired, Cancelled int
	CreatedMinor, PaidMinor, SettledMinor              int64
}

// PeriodFigures counts, per currency, links created on or after since's
// UTC day and what happened since then: paid (paid_at in the period),
// settled (of those, now settled, on their paid day), failed, expired and
// cancelled (links now in that status whose last change is in the period).
// since is a UTC midnight; a later time counts its whole day. Rows are
// ordered by links created, most first, then currency.
func (s *Store) PeriodFigures(ctx context.Context, since time.Time) ([]CurrencyFigures, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT currency, sum(created), sum(created_minor), sum(paid), sum(paid_minor),
			sum(settled), sum(settled_minor), sum(failed), sum(expired), sum(cancelled)
		FROM figures_daily WHERE day >= ?
		GROUP BY currency
		HAVING sum(created) <> 0 OR sum(paid) <> 0 OR sum(failed) <> 0 OR sum(expired) <> 0 OR sum(cancelled) <> 0
		ORDER BY sum(created) DESC, currency`, day(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CurrencyFigures
	for rows.Next() {
		var f CurrencyFigures
		if err := rows.Scan(&f.Currency, &f.Created, &f.CreatedMinor, &f.Paid, &f.PaidMinor, &f.Settled, &f.SettledMinor,
			&f.Failed, &f.Expired, &f.Cancelled); err != nil {
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

// PaidPerDay returns, for currency, the paid amount per UTC day from
// since's day (inclusive); days without payments are absent.
func (s *Store) PaidPerDay(ctx context.Context, currency string, since time.Time) ([]DayAmount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT day, paid_minor, paid FROM figures_daily
		WHERE day >= ? AND currency = ? AND paid <> 0 ORDER BY day`, day(since), currency)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DayAmount
	for rows.Next() {
		var d int64
		var a DayAmount
		if err := rows.Scan(&d, &a.Minor, &a.Count); err != nil {
			return nil, err
		}
		a.Day = time.UnixMilli(d * dayMS).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// MostPaid is the currency of figs (one period's PeriodFigures) with the
// most paid links (ties: the first by code), or "" when none was paid: the
// dashboard's default chart when the settings' currency has no figures.
func MostPaid(figs []CurrencyFigures) string {
	top, most := "", 0
	for _, f := range figs {
		if f.Paid > most || (f.Paid == most && most > 0 && f.Currency < top) {
			top, most = f.Currency, f.Paid
		}
	}
	return top
}

// StatusTotal is how many links are in one status and currency now, and
// their amount in minor units.
type StatusTotal struct {
	Status   string
	Currency string
	Links    int
	Minor    int64
}

// StatusTotals lists, per status and currency, the links in it now, by
// status then currency; empty ones are left out.
func (s *Store) StatusTotals(ctx context.Context) ([]StatusTotal, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT status, currency, links, amount_minor FROM figures_status
		WHERE links <> 0 ORDER BY status, currency`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StatusTotal
	for rows.Next() {
		var t StatusTotal
		if err := rows.Scan(&t.Status, &t.Currency, &t.Links, &t.Minor); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// qPayBucket is a paid link's time-to-pay bucket, as
// migrations/0023_figures_pay_time.sql's triggers work it out: four
// buckets to each doubling of the seconds from created to paid, times
// under a second in bucket 0.
const qPayBucket = `CAST(4 * log2(max(paid_at - created_at, 1000) / 1000.0) AS INTEGER)`

// payBucketsPerDoubling is how finely figures_pay_time divides times.
const payBucketsPerDoubling = 4

// PayTimeBucket is the range of times to pay bucket b of figures_pay_time
// holds: from low up to (not including) high. Bucket 0 starts at zero.
func PayTimeBucket(b int) (low, high time.Duration) {
	at := func(b int) time.Duration {
		return time.Duration(math.Exp2(float64(b)/payBucketsPerDoubling) * float64(time.Second))
	}
	if b > 0 {
		low = at(b)
	}
	return low, at(b + 1)
}

// PayTimeTolerance is how far a median PayTimes reports may be from the
// exact one, as a fraction of the exact one: half a bucket's width, in
// ratio (2^(1/8) - 1, about 9.1 %). Times under a second are reported as
// about a second.
var PayTimeTolerance = math.Exp2(1.0/(2*payBucketsPerDoubling)) - 1

// PayTime is how long the links of one currency paid in a period took
// from created to paid.
type PayTime struct {
	Currency string
	Links    int // links paid in the period
	// Median is the middle link's time to pay (of an even number, the
	// lower of the two middle ones), to within PayTimeTolerance: the
	// geometric middle of the bucket that link's time is in.
	Median time.Duration
}

// PayTimes returns, per currency, the median time from created to paid of
// the links paid since since's UTC day (inclusive), from the kept
// histogram figures_pay_time: one row per currency, day and bucket read,
// never the links. Rows are by currency; currencies without a paid link
// in the period are absent.
func (s *Store) PayTimes(ctx context.Context, since time.Time) ([]PayTime, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT currency, bucket, sum(links) FROM figures_pay_time WHERE day >= ?
		GROUP BY currency, bucket HAVING sum(links) > 0 ORDER BY currency, bucket`, day(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type count struct{ bucket, links int }
	var currencies []string
	hist := map[string][]count{}
	for rows.Next() {
		var cur string
		var c count
		if err := rows.Scan(&cur, &c.bucket, &c.links); err != nil {
			return nil, err
		}
		if _, ok := hist[cur]; !ok {
			currencies = append(currencies, cur)
		}
		hist[cur] = append(hist[cur], c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]PayTime, 0, len(currencies))
	for _, cur := range currencies {
		p := PayTime{Currency: cur}
		for _, c := range hist[cur] {
			p.Links += c.links
		}
		middle, seen := (p.Links+1)/2, 0 // the lower median's rank, from 1
		for _, c := range hist[cur] {
			if seen += c.links; seen >= middle {
				low, high := PayTimeBucket(c.bucket)
				if low == 0 {
					low = high / 2 // bucket 0: "about a second"
				}
				p.Median = time.Duration(math.Sqrt(float64(low) * float64(high))).Round(time.Second)
				break
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// qFiguresFromLinks works the three tables' rows out from the links as
// they are, in one pass over the links into a small grouping (created day,
// paid day, ended day, currency, status, time-to-pay bucket), as
// migrations/0017_figures.sql and 0023_figures_pay_time.sql backfill them.
// Its rows are kind, day, currency, status, bucket and 12 figures: a
// 'daily' row has a day and the 12 figures; a 'status' row a status, its
// links and amount, then zeros; a 'pay_time' row a day, a bucket and its
// links, then zeros.
const qFiguresFromLinks = `WITH g AS MATERIALIZED (
		SELECT created_at / 86400000 AS created_day, paid_at / 86400000 AS paid_day,
			CASE WHEN status = 'failed' OR status = 'expired' OR status = 'cancelled' THEN updated_at / 86400000 END AS ended_day,
			currency, status, CASE WHEN paid_at IS NOT NULL THEN ` + qPayBucket + ` END AS pay_bucket,
			count(*) AS n, sum(amount_minor) AS minor
		FROM links GROUP BY 1, 2, 3, 4, 5, 6),
	d(day, currency, created, created_minor, paid, paid_minor, settled, settled_minor, failed, failed_minor,
		expired, expired_minor, cancelled, cancelled_minor) AS (
		SELECT created_day, currency, n, minor, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM g
		UNION ALL
		SELECT paid_day, currency, 0, 0, n, minor, (status = 'settled') * n, (status = 'settled') * minor, 0, 0, 0, 0, 0, 0
		FROM g WHERE paid_day IS NOT NULL
		UNION ALL
		SELECT ended_day, currency, 0, 0, 0, 0, 0, 0, (status = 'failed') * n, (status = 'failed') * minor,
			(status = 'expired') * n, (status = 'expired') * minor, (status = 'cancelled') * n, (status = 'cancelled') * minor
		FROM g WHERE ended_day IS NOT NULL)
	SELECT 'daily' AS kind, day, currency, '' AS status, NULL AS bucket, sum(created) AS v1, sum(created_minor) AS v2, sum(paid) AS v3,
		sum(paid_minor) AS v4, sum(settled) AS v5, sum(settled_minor) AS v6, sum(failed) AS v7, sum(failed_minor) AS v8,
		sum(expired) AS v9, sum(expired_minor) AS v10, sum(cancelled) AS v11, sum(cancelled_minor) AS v12
	FROM d GROUP BY day, currency
	UNION ALL
	SELECT 'status', NULL, currency, status, NULL, sum(n), sum(minor), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM g GROUP BY status, currency
	UNION ALL
	SELECT 'pay_time', paid_day, currency, '', pay_bucket, sum(n), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	FROM g WHERE paid_day IS NOT NULL GROUP BY paid_day, currency, pay_bucket`

// qFiguresKept reads the kept figures in qFiguresFromLinks' shape.
const qFiguresKept = `SELECT 'daily', day, currency, '', NULL, created, created_minor, paid, paid_minor, settled, settled_minor,
		failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor FROM figures_daily
	UNION ALL
	SELECT 'status', NULL, currency, status, NULL, links, amount_minor, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM figures_status
	UNION ALL
	SELECT 'pay_time', day, currency, '', bucket, links, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM figures_pay_time`

// figureColumns names qFiguresFromLinks' 12 figures, for a difference.
var figureColumns = [...]string{"created", "created_minor", "paid", "paid_minor", "settled", "settled_minor",
	"failed", "failed_minor", "expired", "expired_minor", "cancelled", "cancelled_minor"}

// figureKey is one row of either table: a daily row has Day, a status row
// Status.
type figureKey struct {
	table    string
	day      sql.NullInt64
	currency string
	status   string
	bucket   sql.NullInt64
}

func (k figureKey) String() string {
	switch k.table {
	case "daily":
		return fmt.Sprintf("figures_daily %s %s", time.UnixMilli(k.day.Int64*dayMS).UTC().Format(time.DateOnly), k.currency)
	case "pay_time":
		low, high := PayTimeBucket(int(k.bucket.Int64))
		return fmt.Sprintf("figures_pay_time %s %s bucket %d (%s to %s)", time.UnixMilli(k.day.Int64*dayMS).UTC().Format(time.DateOnly),
			k.currency, k.bucket.Int64, low.Round(time.Second), high.Round(time.Second))
	}
	return fmt.Sprintf("figures_status %s %s", k.status, k.currency)
}

// FigureDiff is one figure the kept tables hold differently from the links.
type FigureDiff struct {
	Row    string // "figures_daily 2026-12-01 EUR", "figures_status open EUR", "figures_pay_time 2026-12-01 EUR bucket 51 (…)"
	Column string // "paid_minor", "links", …
	Kept   int64  // what the table holds
	Links  int64  // what the links say
}

func (d FigureDiff) String() string {
	return fmt.Sprintf("%s %s: kept %d, links say %d", d.Row, d.Column, d.Kept, d.Links)
}

// CheckFigures compares the kept figures with the same figures worked out
// from the links, in one read snapshot, and returns every difference (none:
// they agree). Rows at zero count as absent. It reads every link once.
func (s *Store) CheckFigures(ctx context.Context) ([]FigureDiff, error) {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	kept, err := readFigures(ctx, tx, qFiguresKept)
	if err != nil {
		return nil, err
	}
	fresh, err := readFigures(ctx, tx, qFiguresFromLinks)
	if err != nil {
		return nil, err
	}
	var diffs []FigureDiff
	compare := func(k figureKey, got, want [12]int64) {
		for i := range got {
			if got[i] == want[i] {
				continue
			}
			col := figureColumns[i]
			switch k.table {
			case "status":
				col = [...]string{"links", "amount_minor"}[i]
			case "pay_time":
				col = "links"
			}
			diffs = append(diffs, FigureDiff{Row: k.String(), Column: col, Kept: got[i], Links: want[i]})
		}
	}
	for k, got := range kept {
		compare(k, got, fresh[k])
	}
	for k, want := range fresh {
		if _, ok := kept[k]; !ok {
			compare(k, [12]int64{}, want)
		}
	}
	slices.SortFunc(diffs, func(a, b FigureDiff) int {
		if a.Row != b.Row {
			if a.Row < b.Row {
				return -1
			}
			return 1
		}
		if a.Column < b.Column {
			return -1
		}
		if a.Column > b.Column {
			return 1
		}
		return 0
	})
	return diffs, nil
}

// readFigures reads rows of qFiguresKept's shape, leaving out all-zero ones.
func readFigures(ctx context.Context, tx *sql.Tx, q string) (map[figureKey][12]int64, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[figureKey][12]int64{}
	for rows.Next() {
		var k figureKey
		var v [12]int64
		dest := []any{&k.table, &k.day, &k.currency, &k.status, &k.bucket}
		for i := range v {
			dest = append(dest, &v[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if v != ([12]int64{}) {
			out[k] = v
		}
	}
	return out, rows.Err()
}

// RebuildFigures empties the figures tables and fills them again from the
// links, in one write transaction: the cure for a difference CheckFigures
// found. It reads every link once (a few seconds a million links) and
// holds the write lock meanwhile.
func (s *Store) RebuildFigures(ctx context.Context) error {
	return s.withTx(ctx, func(tx *Tx) error { return rebuildFigures(ctx, tx) })
}

func rebuildFigures(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM figures_daily; DELETE FROM figures_status; DELETE FROM figures_pay_time;
		CREATE TEMP TABLE figures_fresh AS `+qFiguresFromLinks+`;
		INSERT INTO figures_daily (day, currency, created, created_minor, paid, paid_minor,
			settled, settled_minor, failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor)
		SELECT day, currency, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12 FROM temp.figures_fresh WHERE kind = 'daily';
		INSERT INTO figures_status (status, currency, links, amount_minor)
		SELECT status, currency, v1, v2 FROM temp.figures_fresh WHERE kind = 'status';
		INSERT INTO figures_pay_time (day, currency, bucket, links)
		SELECT day, currency, bucket, v1 FROM temp.figures_fresh WHERE kind = 'pay_time';
		DROP TABLE temp.figures_fresh`)
	return err
}
