package handlers_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// benchDB returns a database of PAYLINKS_BENCH_LINKS links (default one
// million) made by the seed generator, or PAYLINKS_BENCH_DB if set. It is
// built once into the temp directory and reused by later runs.
func benchDB(b *testing.B) *db.Store {
	b.Helper()
	ctx := context.Background()
	path, n := benchDBPath(), benchDBSize()
	st, err := db.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		b.Fatal(err)
	}
	have, _ := st.CountLinks(ctx)
	if have < n {
		b.Logf("seeding %d links into %s (once)", n-have, path)
		u, err := st.CreateUser(ctx, db.NewUser{Email: fmt.Sprintf("seed%d@bench.invalid", time.Now().UnixNano()), Name: "Seed", Role: paylink.RoleViewer, PasswordHash: "!"}, db.AuditEntry{Action: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SeedLinks(ctx, n-have, 20000, u.ID, db.FakeLinks(time.Now(), 20261125), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchDBSize is the bench database's size: PAYLINKS_BENCH_LINKS, default
// one million.
func benchDBSize() int {
	if v, err := strconv.Atoi(os.Getenv("PAYLINKS_BENCH_LINKS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// benchDBPath is PAYLINKS_BENCH_DB, or a file per size in the temp directory.
func benchDBPath() string {
	if p := os.Getenv("PAYLINKS_BENCH_DB"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("paylinks-bench-%d.db", benchDBSize()))
}

// benchApp is the real router over st with one signed-in admin.
type benchApp struct {
	e      *echo.Echo
	cookie []*http.Cookie
}

func newBenchApp(b *testing.B, st *db.Store) *benchApp {
	b.Helper()
	ctx := context.Background()
	h, _ := auth.NewHasher(testParams)
	email := "bench-admin@bench.invalid"
	if _, err := st.UserByEmail(ctx, email); err != nil {
		hash, _ := h.Hash(ctx, testPassword)
		if _, err := st.CreateUser(ctx, db.NewUser{Email: email, Name: "Bench", Role: paylink.RoleAdmin, PasswordHash: hash}, db.AuditEntry{Action: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	_, client := newProviderTB(b)
	key := bytes.Repeat([]byte{7}, 32)
	a, err := app.New(ctx, app.Config{BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"},
		SessionKeys: [][]byte{key, key}, LoginRatePerMinute: 1000, HashParams: testParams},
		app.Parts{Store: st, StableMint: client, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	ba := &benchApp{e: a.Handler}
	// Sign in through the real form.
	rec := ba.do(http.MethodGet, "/login", "")
	ba.cookie = rec.Result().Cookies()
	tok := extract(rec.Body.String(), `name="_csrf" value="`)
	form := url.Values{"email": {email}, "password": {testPassword}, "_csrf": {tok}}
	rec = ba.do(http.MethodPost, "/login", form.Encode())
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("bench sign-in: %d", rec.Code)
	}
	ba.cookie = rec.Result().Cookies()
	return ba
}

func extract(body, prefix string) string {
	i := bytes.Index([]byte(body), []byte(prefix))
	if i < 0 {
		return ""
	}
	rest := body[i+len(prefix):]
	return rest[:bytes.IndexByte([]byte(rest), '"')]
}

func (a *benchApp) do(method, path, form string) *httptest.ResponseRecorder {
	var body io.Reader
	if form != "" {
		body = bytes.NewBufferString(form)
	}
	req := httptest.NewRequest(method, path, body)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range a.cookie {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return rec
}

// timings collects per-operation durations to report a p99.
type timings []time.Duration

func (t *timings) time(f func()) {
	start := time.Now()
	f()
	*t = append(*t, time.Since(start))
}

func (t timings) report(b *testing.B) {
	if len(t) == 0 {
		return
	}
	s := slices.Clone(t)
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(s[len(s)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkSearch measures the links page through the real handler on a
// seeded database, each kind of query beside its baseline: the bare SQL of
// that kind on the same data (one indexed query, 50 rows, no ranking) plus a
// bare templ render of the same rows.
func BenchmarkSearch(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	raw := openBenchSQL(b)
	ctx := context.Background()
	// Real values to look for, spread over the table.
	var samples []db.Link
	total, _ := st.CountLinks(ctx)
	for i := 0; i < 200; i++ {
		for _, year := range []int{2026, 2025} {
			p, err := st.SearchLinks(ctx, db.LinkQuery{Term: fmt.Sprintf("INV-%d-%07d", year, (i*7919)%total)})
			if err == nil && len(p.Links) > 0 {
				samples = append(samples, p.Links[0])
			}
		}
	}
	if len(samples) == 0 {
		b.Fatal("no sample links found")
	}
	const cols = "l.id, l.status, l.amount_minor, l.currency, l.customer_id, l.customer_email, l.website_reference, COALESCE(l.sm_reference, ''), l.created_at"
	byKey := "SELECT " + cols + " FROM link_keys k CROSS JOIN links l ON l.id = k.link_id "
	kinds := []struct {
		name string
		term func(l db.Link) string
		sql  string // the bare query of this kind; ? is the term
		args func(term string) []any
	}{
		{"exact-website-ref", func(l db.Link) string { return l.WebsiteReference },
			byKey + "WHERE k.key = ? LIMIT 50", func(t string) []any { return []any{t} }},
		{"exact-stablemint-ref", func(l db.Link) string { return l.SMReference },
			byKey + "WHERE k.key = ? LIMIT 50", func(t string) []any { return []any{t} }},
		{"exact-email", func(l db.Link) string { return l.CustomerEmail },
			byKey + "WHERE k.key = ? LIMIT 50", func(t string) []any { return []any{t} }},
		{"prefix", func(l db.Link) string { return l.WebsiteReference[:len(l.WebsiteReference)-2] },
			byKey + "WHERE k.key >= ? AND k.key < ? LIMIT 50", func(t string) []any { return []any{t, t + "\U0010FFFF"} }},
		{"substring", func(l db.Link) string { return l.WebsiteReference[6 : len(l.WebsiteReference)-1] },
			"SELECT " + cols + " FROM links_fts f CROSS JOIN links l ON l.id = f.rowid WHERE links_fts MATCH ? LIMIT 50",
			func(t string) []any { return []any{`"` + t + `"`} }},
		// Parts of an email, as the load test types them
		// (cmd/paylinks-load/vuser.go): the whole local part ("ada.lovelace12",
		// a few dozen links), a surname ("lovelace", tens of thousands), and
		// five characters from the middle of the local part ("a.lov").
		{"email-local", emailLocal, ftsPhrase, phraseArgs},
		{"email-surname", emailSurname, ftsPhrase, phraseArgs},
		{"email-part", func(l db.Link) string { return emailLocal(l)[1:6] }, ftsPhrase, phraseArgs},
	}
	// Warm up as a running server would be: the page cache, and the
	// trigram counts the substring tier caches (an hour) on first sight.
	for _, k := range kinds {
		for _, l := range samples {
			if _, err := st.SearchLinks(ctx, db.LinkQuery{Term: k.term(l), CountUpTo: 10000}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, k := range kinds {
		// Only links that have the value looked for: a link still being
		// created has no StableMint reference, and an empty term would
		// time the unfiltered list instead.
		var have []db.Link
		for _, l := range samples {
			if k.term(l) != "" {
				have = append(have, l)
			}
		}
		b.Run(k.name+"/handler", func(b *testing.B) {
			timeEach(b, have, func(l db.Link) {
				rec := app.do(http.MethodGet, "/links?q="+url.QueryEscape(k.term(l)), "")
				if rec.Code != http.StatusOK && rec.Code != http.StatusSeeOther {
					b.Fatalf("status %d", rec.Code)
				}
			})
		})
		b.Run(k.name+"/baseline", func(b *testing.B) {
			timeEach(b, have, func(l db.Link) { raw.render(b, k.sql, k.args(k.term(l))...) })
		})
	}
	// The total a prefix page defers (the prefix kind's page lists its
	// matches without it), as htmx loads it just after; beside the bare
	// count of the term's substring matches by the FTS5 phrase.
	prefix := kinds[3]
	b.Run("prefix-total/handler", func(b *testing.B) {
		timeEach(b, samples, func(l db.Link) {
			rec := app.do(http.MethodGet, "/links/count?q="+url.QueryEscape(prefix.term(l)), "")
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="total-count"`) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	})
	b.Run("prefix-total/baseline", func(b *testing.B) {
		timeEach(b, samples, func(l db.Link) {
			var n int
			if err := raw.db.QueryRow("SELECT count(*) FROM (SELECT rowid FROM links_fts WHERE links_fts MATCH ? LIMIT 10001)",
				`"`+prefix.term(l)+`"`).Scan(&n); err != nil {
				b.Fatal(err)
			}
		})
	})
	// The totals the email searches' pages defer, as htmx loads them.
	for _, k := range kinds[5:] {
		b.Run(k.name+"-total/handler", func(b *testing.B) {
			timeEach(b, samples, func(l db.Link) {
				rec := app.do(http.MethodGet, "/links/count?q="+url.QueryEscape(k.term(l)), "")
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			})
		})
		b.Run(k.name+"-total/baseline", func(b *testing.B) {
			timeEach(b, samples, func(l db.Link) {
				var n int
				if err := raw.db.QueryRow("SELECT count(*) FROM (SELECT rowid FROM links_fts WHERE links_fts MATCH ? LIMIT 10001)",
					phraseArgs(k.term(l))...).Scan(&n); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	// A page deep in the list, by keyset.
	b.Run("keyset-page/handler", func(b *testing.B) {
		timeEach(b, samples, func(l db.Link) {
			// As the Next link writes it: the total rides along.
			c := db.CursorAt(l, db.SortCreated)
			if rec := app.do(http.MethodGet, "/links?after="+c+"&total="+strconv.Itoa(total), ""); rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		})
	})
	b.Run("keyset-page/baseline", func(b *testing.B) {
		timeEach(b, samples, func(l db.Link) {
			raw.render(b, "SELECT "+cols+" FROM links l WHERE (l.created_at, l.id) < (?, ?) ORDER BY l.created_at DESC, l.id DESC LIMIT 50",
				l.CreatedAt.UnixMilli(), l.ID)
		})
	})
}

// ftsPhrase is the bare substring query: the FTS5 phrase, 50 rows.
const ftsPhrase = "SELECT l.id, l.status, l.amount_minor, l.currency, l.customer_id, l.customer_email, l.website_reference, " +
	"COALESCE(l.sm_reference, ''), l.created_at FROM links_fts f CROSS JOIN links l ON l.id = f.rowid WHERE links_fts MATCH ? LIMIT 50"

func phraseArgs(t string) []any { return []any{`"` + strings.ReplaceAll(t, `"`, `""`) + `"`} }

// emailLocal is the part of l's email before the @.
func emailLocal(l db.Link) string {
	local, _, _ := strings.Cut(l.CustomerEmail, "@")
	return local
}

// emailSurname is the surname in a seeded email (first.last12@…), digits dropped.
func emailSurname(l db.Link) string {
	local := emailLocal(l)
	if _, last, ok := strings.Cut(local, "."); ok {
		return strings.TrimRight(last, "0123456789")
	}
	return local
}

// timeEach runs f on the samples in turn, one per iteration, and reports
// its p50 and p99.
func timeEach(b *testing.B, samples []db.Link, f func(db.Link)) {
	var t timings
	i := 0
	for b.Loop() {
		l := samples[i%len(samples)]
		i++
		t.time(func() { f(l) })
	}
	t.report(b)
}

// benchSQL is the bench database opened for bare queries, as a reader.
type benchSQL struct{ db *sql.DB }

func openBenchSQL(b *testing.B) benchSQL {
	b.Helper()
	d, err := sql.Open("sqlite", db.DSN(benchDBPath(), true))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return benchSQL{d}
}

// render runs a bare query of link rows and renders them with the same
// templ table the page uses.
func (r benchSQL) render(b *testing.B, query string, args ...any) {
	rows, err := r.db.Query(query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []views.LinkRow
	for rows.Next() {
		var l db.Link
		var created int64
		if err := rows.Scan(&l.ID, &l.Status, &l.AmountMinor, &l.Currency, &l.CustomerID, &l.CustomerEmail,
			&l.WebsiteReference, &l.SMReference, &created); err != nil {
			b.Fatal(err)
		}
		l.CreatedAt = time.UnixMilli(created)
		out = append(out, views.LinkRow{ID: l.ID, URL: "/links/" + strconv.FormatInt(l.ID, 10), Status: string(l.Status),
			Amount: amountString(l), Customer: l.CustomerID, CustomerEmail: l.CustomerEmail,
			WebsiteReference: l.WebsiteReference, Reference: l.SMReference, Created: l.CreatedAt.Format(time.DateTime)})
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if err := views.LinksTable(out).Render(context.Background(), io.Discard); err != nil {
		b.Fatal(err)
	}
}

// countingWriter is an http.ResponseWriter that counts and drops the body.
type countingWriter struct {
	h http.Header
	n int64
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
func (w *countingWriter) WriteHeader(int)             {}

// BenchmarkExportCSV streams every link of the seeded database through the
// real export handler and reports rows per second and the peak growth of
// the live heap while it runs.
func BenchmarkExportCSV(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	total, _ := st.CountLinks(context.Background())
	for b.Loop() {
		runtime.GC()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(sample)
		base := sample[0].Value.Uint64()
		var peak uint64
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
					metrics.Read(s)
					mu.Lock()
					peak = max(peak, s[0].Value.Uint64())
					mu.Unlock()
				}
			}
		}()
		req := httptest.NewRequest(http.MethodGet, "/links/export.csv", nil)
		for _, c := range app.cookie {
			req.AddCookie(c)
		}
		w := &countingWriter{h: http.Header{}}
		start := time.Now()
		app.e.ServeHTTP(w, req)
		elapsed := time.Since(start)
		close(done)
		mu.Lock()
		growth := float64(peak-min(peak, base)) / (1 << 20)
		mu.Unlock()
		b.ReportMetric(float64(total)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(growth, "peak-heap-growth-MiB")
		b.ReportMetric(elapsed.Seconds(), "export-s")
		b.ReportMetric(float64(w.n)/(1<<20), "MiB-out")
	}
}

func amountString(l db.Link) string {
	a, _ := stablemint.NewAmount(l.AmountMinor, l.Currency)
	return a.String() + " " + l.Currency
}
