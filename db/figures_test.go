package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// The dashboard's queries as they were before the figures were kept
// (worked out from the links on every view): the oracle the kept figures
// must agree with. Copied unchanged from db/dashboard.go as of d76fce1.
const (
	oldPeriodFigures = `
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
	oldPaidPerDay = `SELECT paid_at / 86400000 AS day, sum(amount_minor), count(*)
		FROM links WHERE paid_at >= ? AND +currency = ? GROUP BY day ORDER BY day`
	oldTopPaidCurrency = `SELECT currency FROM links WHERE paid_at >= ?
		GROUP BY +currency ORDER BY count(*) DESC, currency LIMIT 1`
	oldErrorLinks = `SELECT count(*) FROM links WHERE status = 'error'`
	// Cancelled is new: counted the way failed and expired always were.
	oracleCancelled = `SELECT currency, count(*) FROM links WHERE status = 'cancelled' AND updated_at >= ? GROUP BY currency`
	// Outstanding is new too: open and processing links now.
	oracleStatus = `SELECT status, currency, count(*), sum(amount_minor) FROM links GROUP BY status, currency ORDER BY status, currency`
)

func rawReader(t *testing.T, st *db.Store) *sql.DB {
	t.Helper()
	r, err := sql.Open("sqlite", db.DSN(st.Path(), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// compareWithOracle checks every dashboard figure the store reads from the
// kept tables against the old queries over the links, for the periods the
// dashboard shows (today, 7 and 30 days before today) and a year.
func compareWithOracle(t *testing.T, st *db.Store, raw *sql.DB, now time.Time) {
	t.Helper()
	ctx := context.Background()
	today := now.UTC().Truncate(24 * time.Hour)
	for _, since := range []time.Time{today, today.AddDate(0, 0, -6), today.AddDate(0, 0, -29), today.AddDate(0, 0, -365)} {
		want := oldPeriod(t, raw, since)
		cancelled := map[string]int{}
		rows, err := raw.Query(oracleCancelled, since.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c string
			var n int
			if err := rows.Scan(&c, &n); err != nil {
				t.Fatal(err)
			}
			cancelled[c] = n
		}
		rows.Close()
		got, err := st.PeriodFigures(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		// The old figures had no cancelled column: a currency whose only
		// news is cancelled links is a row they never showed.
		var shown []db.CurrencyFigures
		for _, f := range got {
			if f.Cancelled != cancelled[f.Currency] {
				t.Errorf("since %s %s: %d cancelled, links say %d", since.Format(time.DateOnly), f.Currency, f.Cancelled, cancelled[f.Currency])
			}
			delete(cancelled, f.Currency)
			f.Cancelled = 0
			if f != (db.CurrencyFigures{Currency: f.Currency}) {
				shown = append(shown, f)
			}
		}
		for c, n := range cancelled {
			if n != 0 {
				t.Errorf("since %s %s: no row, links say %d cancelled", since.Format(time.DateOnly), c, n)
			}
		}
		if !reflect.DeepEqual(shown, want) {
			t.Errorf("since %s:\n kept  %+v\n links %+v", since.Format(time.DateOnly), shown, want)
		}

		var wantTop string
		if err := raw.QueryRow(oldTopPaidCurrency, since.UnixMilli()).Scan(&wantTop); err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if top := db.MostPaid(got); top != wantTop {
			t.Errorf("since %s: top paid currency %q, links say %q", since.Format(time.DateOnly), top, wantTop)
		}
		for _, cur := range []string{"EUR", "USD", "JPY", "GBP", "CHF", "KWD"} {
			days, err := st.PaidPerDay(ctx, cur, since)
			if err != nil {
				t.Fatal(err)
			}
			if wantDays := oldPerDay(t, raw, cur, since); !reflect.DeepEqual(days, wantDays) {
				t.Errorf("since %s %s paid per day:\n kept  %v\n links %v", since.Format(time.DateOnly), cur, days, wantDays)
			}
		}
	}
	compareKeyFigures(t, st, raw, now)
	var wantErrors int
	if err := raw.QueryRow(oldErrorLinks).Scan(&wantErrors); err != nil {
		t.Fatal(err)
	}
	at, err := st.AttentionList(ctx, now, now.Add(24*time.Hour))
	if err != nil || at.ErrorLinks != wantErrors {
		t.Errorf("links in error %d (%v), links say %d", at.ErrorLinks, err, wantErrors)
	}
	totals, err := st.StatusTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []db.StatusTotal
	rows, err := raw.Query(oracleStatus)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s db.StatusTotal
		if err := rows.Scan(&s.Status, &s.Currency, &s.Links, &s.Minor); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	if !reflect.DeepEqual(totals, want) {
		t.Errorf("status totals:\n kept  %v\n links %v", totals, want)
	}
}

// Exact SQL over the links for the dashboard's key figures, to check the
// kept figures the dashboard reads them from (handlers/dashboard.go).
const (
	// Collected since the 1st: links now paid or settled, paid in the month.
	exactCollected = `SELECT currency, count(*), sum(amount_minor) FROM links
		WHERE status IN ('paid', 'settled') AND paid_at >= ? GROUP BY currency ORDER BY currency`
	// The paid rate's parts: paid in the period, and now failed or expired
	// with their last change in it.
	exactPaidRate = `SELECT currency, sum(COALESCE(paid_at >= ?1, 0)), sum(status = 'failed' AND updated_at >= ?1),
			sum(status = 'expired' AND updated_at >= ?1)
		FROM links GROUP BY currency
		HAVING sum(COALESCE(paid_at >= ?1, 0)) + sum(status = 'failed' AND updated_at >= ?1) + sum(status = 'expired' AND updated_at >= ?1) > 0
		ORDER BY currency`
	// The median time to pay of the links paid in the period: of an even
	// number, the lower of the two middle ones.
	exactMedianPayTime = `SELECT currency, n, d FROM (
			SELECT currency, paid_at - created_at AS d,
				row_number() OVER (PARTITION BY currency ORDER BY paid_at - created_at) AS k,
				count(*) OVER (PARTITION BY currency) AS n
			FROM links WHERE paid_at >= ?)
		WHERE k = (n + 1) / 2 ORDER BY currency`
)

// compareKeyFigures checks the key figures at now: collected since the
// 1st of the month (UTC), the paid rate's parts and the median time to pay
// over the last 30 days, per currency, against exact SQL over the links;
// the median within the histogram's tolerance (db.PayTimeTolerance, and a
// second for the rounding).
func compareKeyFigures(t *testing.T, st *db.Store, raw *sql.DB, now time.Time) {
	t.Helper()
	ctx := context.Background()
	today := now.UTC().Truncate(24 * time.Hour)
	month := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)
	last30 := today.AddDate(0, 0, -29)

	type collected struct {
		links int
		minor int64
	}
	want := map[string]collected{}
	scanRows(t, raw, exactCollected, []any{month.UnixMilli()}, func(sc func(...any)) {
		var c string
		var v collected
		sc(&c, &v.links, &v.minor)
		want[c] = v
	})
	figs, err := st.PeriodFigures(ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]collected{}
	for _, f := range figs {
		if f.Paid != 0 || f.PaidMinor != 0 {
			got[f.Currency] = collected{f.Paid, f.PaidMinor}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("collected since %s:\n kept  %v\n links %v", month.Format(time.DateOnly), got, want)
	}

	type rate struct{ paid, failed, expired int }
	wantRate := map[string]rate{}
	scanRows(t, raw, exactPaidRate, []any{last30.UnixMilli()}, func(sc func(...any)) {
		var c string
		var r rate
		sc(&c, &r.paid, &r.failed, &r.expired)
		wantRate[c] = r
	})
	if figs, err = st.PeriodFigures(ctx, last30); err != nil {
		t.Fatal(err)
	}
	gotRate := map[string]rate{}
	for _, f := range figs {
		if f.Paid+f.Failed+f.Expired > 0 {
			gotRate[f.Currency] = rate{f.Paid, f.Failed, f.Expired}
		}
	}
	if !reflect.DeepEqual(gotRate, wantRate) {
		t.Errorf("paid rate's parts since %s:\n kept  %v\n links %v", last30.Format(time.DateOnly), gotRate, wantRate)
	}

	type median struct {
		links int
		d     time.Duration
	}
	wantMedian := map[string]median{}
	scanRows(t, raw, exactMedianPayTime, []any{last30.UnixMilli()}, func(sc func(...any)) {
		var c string
		var n int
		var ms int64
		sc(&c, &n, &ms)
		wantMedian[c] = median{n, time.Duration(ms) * time.Millisecond}
	})
	times, err := st.PayTimes(ctx, last30)
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != len(wantMedian) {
		t.Errorf("median time to pay for %d currencies, links have paid ones in %d", len(times), len(wantMedian))
	}
	for _, p := range times {
		w := wantMedian[p.Currency]
		slack := time.Duration(db.PayTimeTolerance*float64(w.d)) + time.Second
		if p.Links != w.links || p.Median < w.d-slack || p.Median > w.d+slack {
			t.Errorf("%s median time to pay since %s: %v of %d links, links say %v of %d (tolerance ±%v)",
				p.Currency, last30.Format(time.DateOnly), p.Median, p.Links, w.d, w.links, slack)
		}
	}
}

// scanRows runs q and hands each row's Scan to fn, failing on any error.
func scanRows(t *testing.T, raw *sql.DB, q string, args []any, fn func(scan func(...any))) {
	t.Helper()
	rows, err := raw.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		fn(func(dest ...any) {
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
		})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func oldPeriod(t *testing.T, raw *sql.DB, since time.Time) []db.CurrencyFigures {
	t.Helper()
	rows, err := raw.Query(oldPeriodFigures, since.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []db.CurrencyFigures
	for rows.Next() {
		var f db.CurrencyFigures
		if err := rows.Scan(&f.Currency, &f.Created, &f.CreatedMinor, &f.Paid, &f.PaidMinor, &f.Settled, &f.SettledMinor,
			&f.Failed, &f.Expired); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

func oldPerDay(t *testing.T, raw *sql.DB, cur string, since time.Time) []db.DayAmount {
	t.Helper()
	rows, err := raw.Query(oldPaidPerDay, since.UnixMilli(), cur)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []db.DayAmount
	for rows.Next() {
		var day int64
		var d db.DayAmount
		if err := rows.Scan(&day, &d.Minor, &d.Count); err != nil {
			t.Fatal(err)
		}
		d.Day = time.UnixMilli(day * 86400000).UTC()
		out = append(out, d)
	}
	return out
}

func checkFigures(t *testing.T, st *db.Store, when string) {
	t.Helper()
	diffs, err := st.CheckFigures(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("… and %d more", len(diffs)-10)
			break
		}
		t.Errorf("%s: %s", when, d)
	}
	if len(diffs) > 0 {
		t.FailNow()
	}
}

// TestSeededFiguresMatchTheOldQueries: a year of seeded links in every
// status and six currencies (db.FakeLinks, loaded by SeedLinks, which
// rebuilds the figures after the load) shows the same dashboard as the
// old queries did, and keeps showing it as live changes arrive.
func TestSeededFiguresMatchTheOldQueries(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 15, 30, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }
	u := whUser(t, st)
	if err := st.SeedLinks(ctx, 4000, 500, u, db.FakeLinks(now, 7), nil); err != nil {
		t.Fatal(err)
	}
	raw := rawReader(t, st)
	checkFigures(t, st, "after seeding")
	compareWithOracle(t, st, raw, now)

	// Live changes on the seeded links: every open one is cancelled or
	// expires, and a second seeding continues through the triggers' gap.
	ids := linkIDs(t, raw, "status = 'open'")
	for i, id := range ids {
		if i%2 == 0 {
			if _, err := st.CancelLink(ctx, id, u, "test", db.AuditEntry{Action: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	now = now.Add(26 * time.Hour)
	if _, err := st.ExpireLinks(ctx, now, 500); err != nil {
		t.Fatal(err)
	}
	if err := st.SeedLinks(ctx, 500, 100, u, db.FakeLinks(now, 8), nil); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, st, "after live changes")
	compareWithOracle(t, st, raw, now)
}

func linkIDs(t *testing.T, raw *sql.DB, where string) []int64 {
	t.Helper()
	rows, err := raw.Query("SELECT id FROM links WHERE " + where + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestFiguresFollowEveryChange is a property test: random sequences of
// what can happen to links (created, minted, refused, held and approved,
// retried, re-issued, cancelled, expired, and every webhook effect with
// matching or differing amounts, admins' review decisions), with the clock
// moving across days, leave the kept figures equal to a rebuild from the
// links after every step, and the dashboard equal to the old queries.
func TestFiguresFollowEveryChange(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			st := mustOpenDB(t)
			raw := rawReader(t, st)
			now := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
			st.Now = func() time.Time { return now }
			r := rand.New(rand.NewPCG(seed, 17))
			w := &figuresWorld{t: t, st: st, raw: raw, r: r, user: whUser(t, st), now: &now}
			for step := range 250 {
				op := w.step()
				checkFigures(t, st, fmt.Sprintf("step %d (%s)", step, op))
			}
			compareWithOracle(t, st, raw, now)
		})
	}
}

type figuresWorld struct {
	t    *testing.T
	st   *db.Store
	raw  *sql.DB
	r    *rand.Rand
	user int64
	now  *time.Time
	n    int
	// events flagged for review, by id
	review []int64
}

var figureCurrencies = []struct {
	code string
	exp  int
}{{"EUR", 2}, {"USD", 2}, {"JPY", 0}}

// some returns a random link id among those matching where, or 0.
func (w *figuresWorld) some(where string) int64 {
	ids := linkIDs(w.t, w.raw, where)
	if len(ids) == 0 {
		return 0
	}
	return ids[w.r.IntN(len(ids))]
}

func (w *figuresWorld) create(reissueOf int64) int64 {
	w.n++
	c := figureCurrencies[w.r.IntN(len(figureCurrencies))]
	minor := 1 + w.r.Int64N(5000)
	l, _, err := w.st.CreateLink(context.Background(), db.NewLink{
		IdempotencyKey: fmt.Sprintf("fig-%d", w.n), CustomerID: "CUST-1", CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: minor, AmountText: paylink.FormatMinor(minor, c.exp), Currency: c.code,
		WebsiteReference: fmt.Sprintf("W-%d", w.n), SuccessURL: "https://x/s", SupportURL: "https://x/h",
		ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: w.user, AllowDuplicate: true, ReissueOf: reissueOf,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		w.t.Fatal(err)
	}
	return l.ID
}

func (w *figuresWorld) event(id int64, effect paylink.Effect, differ bool) {
	ctx := context.Background()
	l, err := w.st.LinkByID(ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	w.n++
	key := fmt.Sprintf("ev-%d", w.n)
	amount := l.AmountMinor
	if differ {
		amount++
	}
	d := db.WebhookDelivery{IP: "192.0.2.7", RequestID: "req-" + key, BodySHA256: "sha-" + key, BodySize: 42,
		SigTimestamp: "2026-11-25T10:00:00Z", Signature: "c2ln",
		Event: db.WebhookEventData{Key: key, Parsed: true, Family: "v2", Type: "partner.customer.deposit." + string(effect),
			Effect: effect, IdempotencyKey: l.IdempotencyKey, AmountRaw: fmt.Sprint(amount), Currency: l.Currency,
			AmountMinor: amount, AmountKnown: true, Body: []byte(`{"eventId":"` + key + `"}`)}}
	if w.r.IntN(3) == 0 {
		d.Event.SessionID = fmt.Sprintf("SES-%d", w.n) // a new session id: the link's last change moves
	}
	res, err := w.st.IngestWebhooks(ctx, []db.WebhookDelivery{d})
	if err != nil {
		w.t.Fatal(err)
	}
	if res[0].Outcome == paylink.OutcomeNeedsReview {
		w.review = append(w.review, res[0].EventID)
	}
}

// step does one random thing and says what.
func (w *figuresWorld) step() string {
	ctx := context.Background()
	a := db.AuditEntry{ActorID: w.user, Action: "test"}
	switch k := w.r.IntN(13); k {
	case 0, 1:
		w.create(0)
		return "create"
	case 2:
		if id := w.some("status = 'creating'"); id != 0 {
			ref := fmt.Sprintf("SM-%d", id)
			if err := w.st.CompleteLinkCreation(ctx, id, ref, "https://checkout.example/"+ref,
				w.now.Add(time.Duration(1+w.r.IntN(48))*time.Hour)); err != nil {
				w.t.Fatal(err)
			}
		}
		return "mint"
	case 3:
		if id := w.some("status = 'creating'"); id != 0 {
			if w.r.IntN(2) == 0 {
				if err := w.st.FailLinkCreation(ctx, id, "refused"); err != nil {
					w.t.Fatal(err)
				}
				return "mint refused"
			}
			ref := fmt.Sprintf("SMH-%d", id)
			if err := w.st.HoldLinkCheckout(ctx, id, ref, "https://odd.example/"+ref, "odd.example",
				w.now.Add(24*time.Hour), "unknown host"); err != nil {
				w.t.Fatal(err)
			}
			return "checkout held"
		}
		return "nothing creating"
	case 4:
		if id := w.some("status = 'error'"); id != 0 {
			if w.r.IntN(3) == 0 {
				w.create(id)
				return "re-issue"
			}
			if err := w.st.RetryLink(ctx, id, w.user, a); err != nil {
				w.t.Fatal(err)
			}
			return "retry"
		}
		if _, err := w.st.ApproveCheckoutHost(ctx, "odd.example", w.user, a); err != nil {
			w.t.Fatal(err)
		}
		return "approve host"
	case 5:
		if id := w.some("status IN ('error', 'open', 'processing')"); id != 0 {
			if _, err := w.st.CancelLink(ctx, id, w.user, "test", a); err != nil {
				w.t.Fatal(err)
			}
		}
		return "cancel"
	case 6:
		if _, err := w.st.ExpireLinks(ctx, *w.now, 500); err != nil {
			w.t.Fatal(err)
		}
		return "expiry sweep"
	case 7, 8, 9:
		effects := []paylink.Effect{paylink.EffectProcessing, paylink.EffectPaid, paylink.EffectSettled, paylink.EffectFailed, paylink.EffectNone}
		e := effects[w.r.IntN(len(effects))]
		if id := w.some("status <> 'creating'"); id != 0 {
			w.event(id, e, w.r.IntN(8) == 0)
		}
		return "webhook " + string(e)
	case 10:
		if len(w.review) > 0 {
			i := w.r.IntN(len(w.review))
			id := w.review[i]
			w.review = append(w.review[:i], w.review[i+1:]...)
			// Only a payment's review is decided; others are refused.
			if _, err := w.st.ResolveWebhookReview(ctx, id, w.r.IntN(2) == 0, a); err != nil && !errors.Is(err, db.ErrConflict) {
				w.t.Fatal(err)
			}
			return "review decided"
		}
		return "no review"
	default:
		*w.now = w.now.Add(time.Duration(w.r.IntN(30*60)) * time.Minute)
		return "time passes"
	}
}

// TestCheckFiguresFindsAndRebuildFixes: a figure out of step with the
// links is reported by row and column, and a rebuild puts it right.
// Changes the application never makes (amount, currency, creation and
// payment time rewritten, links deleted) are kept too.
func TestCheckFiguresFindsAndRebuildFixes(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }
	u := whUser(t, st)
	l := whLink(t, st, u, "HS-F1", "F1", now.Add(time.Hour))
	other := whLink(t, st, u, "HS-F2", "F2", now.Add(time.Hour))
	ingest(t, st, whEvent("f-paid", paylink.EffectPaid, l))
	checkFigures(t, st, "after a payment")

	w, err := sql.Open("sqlite", db.DSN(st.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1) // the foreign_keys pragma below is the connection's
	if _, err := w.Exec("UPDATE figures_daily SET paid = paid + 1 WHERE currency = 'EUR'"); err != nil {
		t.Fatal(err)
	}
	diffs, err := st.CheckFigures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []db.FigureDiff{{Row: "figures_daily 2026-12-05 EUR", Column: "paid", Kept: 2, Links: 1}}
	if !reflect.DeepEqual(diffs, want) {
		t.Fatalf("check after tampering: %v, want %v", diffs, want)
	}
	if err := st.RebuildFigures(ctx); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, st, "after the rebuild")

	// The time-to-pay histogram likewise: the payment took under a second
	// of the test's clock (bucket 0).
	if _, err := w.Exec("UPDATE figures_pay_time SET links = links - 1 WHERE currency = 'EUR'"); err != nil {
		t.Fatal(err)
	}
	diffs, err = st.CheckFigures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = []db.FigureDiff{{Row: "figures_pay_time 2026-12-05 EUR bucket 0 (0s to 1s)", Column: "links", Kept: 0, Links: 1}}
	if !reflect.DeepEqual(diffs, want) {
		t.Fatalf("check after tampering with the time to pay: %v, want %v", diffs, want)
	}
	if err := st.RebuildFigures(ctx); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, st, "after the second rebuild")

	for _, q := range []string{
		"UPDATE links SET amount_minor = 1234 WHERE id = " + fmt.Sprint(l.ID),
		"UPDATE links SET currency = 'USD' WHERE id = " + fmt.Sprint(l.ID),
		"UPDATE links SET created_at = created_at - 3 * 86400000 WHERE id = " + fmt.Sprint(other.ID),
		"UPDATE links SET created_at = created_at - 2 * 3600000 WHERE id = " + fmt.Sprint(l.ID), // paid 2 h after created now
		"UPDATE links SET paid_at = paid_at + 86400000 WHERE id = " + fmt.Sprint(l.ID),
		"PRAGMA foreign_keys = OFF",
		"DELETE FROM links WHERE id = " + fmt.Sprint(other.ID),
		"DELETE FROM links WHERE id = " + fmt.Sprint(l.ID),
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		checkFigures(t, st, q)
	}
}

// TestMostPaid: the dashboard's default chart currency is the one with
// the most paid links, a tie going to the first by code, and none when
// nothing was paid.
func TestMostPaid(t *testing.T) {
	for _, c := range []struct {
		figs []db.CurrencyFigures
		want string
	}{
		{nil, ""},
		{[]db.CurrencyFigures{{Currency: "EUR", Created: 5}, {Currency: "GBP", Failed: 2}}, ""},
		{[]db.CurrencyFigures{{Currency: "EUR", Paid: 2}, {Currency: "USD", Paid: 7}, {Currency: "GBP", Paid: 3}}, "USD"},
		{[]db.CurrencyFigures{{Currency: "USD", Paid: 4}, {Currency: "EUR", Paid: 4}, {Currency: "GBP", Paid: 1}}, "EUR"},
		{[]db.CurrencyFigures{{Currency: "CHF", Paid: 4}, {Currency: "USD", Paid: 4}}, "CHF"},
	} {
		if got := db.MostPaid(c.figs); got != c.want {
			t.Errorf("MostPaid(%+v) = %q, want %q", c.figs, got, c.want)
		}
	}
}
