package handlers_test

import (
	"bytes"
	"context"
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
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// benchDB returns a database of PAYLINKS_BENCH_LINKS links (default one
// million) made by the seed generator, or PAYLINKS_BENCH_DB if set. It is
// built once into the temp directory and reused by later runs.
func benchDB(b *testing.B) *db.Store {
	b.Helper()
	ctx := context.Background()
	path := os.Getenv("PAYLINKS_BENCH_DB")
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PAYLINKS_BENCH_LINKS")); err == nil && v > 0 {
		n = v
	}
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("paylinks-bench-%d.db", n))
	}
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
		u, err := st.CreateUser(ctx, db.NewUser{Email: fmt.Sprintf("seed%d@bench.invalid", time.Now().UnixNano()), Name: "Seed", Role: db.RoleViewer, PasswordHash: "!"}, db.AuditEntry{Action: "bench"})
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

// benchApp is the real router over st with one signed-in admin.
type benchApp struct {
	e      *echo.Echo
	cookie []*http.Cookie
}

func newBenchApp(b *testing.B, st *db.Store) *benchApp {
	b.Helper()
	ctx := context.Background()
	h, _ := handlers.NewHasher(testParams)
	email := "bench-admin@bench.invalid"
	if _, err := st.UserByEmail(ctx, email); err != nil {
		hash, _ := h.Hash(ctx, testPassword)
		if _, err := st.CreateUser(ctx, db.NewUser{Email: email, Name: "Bench", Role: db.RoleAdmin, PasswordHash: hash}, db.AuditEntry{Action: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	_, client := newProviderTB(b)
	key := bytes.Repeat([]byte{7}, 32)
	e, err := handlers.New(handlers.Options{
		Logger: testLogger(), Store: st, Hasher: h, BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"},
		SessionKeys: [][]byte{key, key}, Client: client, LoginRatePerMinute: 1000,
	})
	if err != nil {
		b.Fatal(err)
	}
	app := &benchApp{e: e}
	// Sign in through the real form.
	rec := app.do(http.MethodGet, "/login", "")
	app.cookie = rec.Result().Cookies()
	tok := extract(rec.Body.String(), `name="_csrf" value="`)
	form := url.Values{"email": {email}, "password": {testPassword}, "_csrf": {tok}}
	rec = app.do(http.MethodPost, "/login", form.Encode())
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("bench sign-in: %d", rec.Code)
	}
	app.cookie = rec.Result().Cookies()
	return app
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
// seeded database, each kind of query beside its baseline: the same
// db.SearchLinks query plus a bare templ render of the same rows.
func BenchmarkSearch(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	ctx := context.Background()
	// Real values to look for, spread over the table.
	var samples []db.Link
	total, _ := st.CountLinks(ctx)
	for i := 0; i < 200; i++ {
		p, err := st.SearchLinks(ctx, db.LinkQuery{Term: fmt.Sprintf("INV-%d-%07d", 2026, (i*7919)%total)})
		if err == nil && len(p.Links) > 0 {
			samples = append(samples, p.Links[0])
		}
		p, err = st.SearchLinks(ctx, db.LinkQuery{Term: fmt.Sprintf("INV-%d-%07d", 2025, (i*7919)%total)})
		if err == nil && len(p.Links) > 0 {
			samples = append(samples, p.Links[0])
		}
	}
	if len(samples) == 0 {
		b.Fatal("no sample links found")
	}
	kinds := []struct {
		name string
		term func(l db.Link) string
	}{
		{"exact-website-ref", func(l db.Link) string { return l.WebsiteReference }},
		{"exact-stablemint-ref", func(l db.Link) string { return l.SMReference }},
		{"prefix", func(l db.Link) string { return l.WebsiteReference[:len(l.WebsiteReference)-2] }},
		{"substring", func(l db.Link) string { return l.WebsiteReference[6 : len(l.WebsiteReference)-1] }},
	}
	for _, k := range kinds {
		b.Run(k.name+"/handler", func(b *testing.B) {
			var t timings
			i := 0
			for b.Loop() {
				l := samples[i%len(samples)]
				i++
				t.time(func() {
					rec := app.do(http.MethodGet, "/links?q="+url.QueryEscape(k.term(l)), "")
					if rec.Code != http.StatusOK && rec.Code != http.StatusSeeOther {
						b.Fatalf("status %d", rec.Code)
					}
				})
			}
			t.report(b)
		})
		b.Run(k.name+"/baseline", func(b *testing.B) {
			var t timings
			i := 0
			for b.Loop() {
				l := samples[i%len(samples)]
				i++
				t.time(func() { baselineSearch(b, st, db.LinkQuery{Term: k.term(l), Limit: 50}) })
			}
			t.report(b)
		})
	}
	// A page deep in the list, by keyset.
	deep := make([]string, 0, len(samples))
	for _, l := range samples {
		deep = append(deep, db.CursorAt(l, db.SortCreated))
	}
	b.Run("keyset-page/handler", func(b *testing.B) {
		var t timings
		i := 0
		for b.Loop() {
			c := deep[i%len(deep)]
			i++
			t.time(func() {
				// As the Next link writes it: the total rides along.
				if rec := app.do(http.MethodGet, "/links?after="+c+"&total="+strconv.Itoa(total), ""); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			})
		}
		t.report(b)
	})
	b.Run("keyset-page/baseline", func(b *testing.B) {
		var t timings
		i := 0
		for b.Loop() {
			c := deep[i%len(deep)]
			i++
			t.time(func() { baselineSearch(b, st, db.LinkQuery{After: c, Limit: 50}) })
		}
		t.report(b)
	})
}

func baselineSearch(b *testing.B, st *db.Store, q db.LinkQuery) {
	p, err := st.SearchLinks(context.Background(), q)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]views.LinkRow, len(p.Links))
	for i, l := range p.Links {
		rows[i] = views.LinkRow{ID: l.ID, URL: "/links/" + strconv.FormatInt(l.ID, 10), Status: l.Status,
			Amount: amountString(l), Customer: l.CustomerID, CustomerEmail: l.CustomerEmail,
			WebsiteReference: l.WebsiteReference, Reference: l.SMReference, Created: l.CreatedAt.Format(time.DateTime)}
	}
	if err := views.LinksTable(rows).Render(context.Background(), io.Discard); err != nil {
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
