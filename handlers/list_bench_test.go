package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/static"
	"github.com/paylinks/paylinks/views"
)

// BenchmarkBenchDB times nothing: it makes the shared bench database ready
// (seeding it when the file does not exist yet) so that cmd/paylinks-bench
// can run it first, and reports what the other benchmarks run on: links,
// size on disk (file and WAL), ready-s (opening, plus any seeding) and
// seed-s when this run made the file.
func BenchmarkBenchDB(b *testing.B) {
	path := benchDBPath()
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, fs.ErrNotExist)
	start := time.Now()
	st := benchDB(b)
	ready := time.Since(start)
	n, err := st.CountLinks(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(n), "links")
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			size += fi.Size()
		}
	}
	b.ReportMetric(float64(size)/(1<<20), "db-MiB")
	b.ReportMetric(ready.Seconds(), "ready-s")
	if fresh {
		b.ReportMetric(ready.Seconds(), "seed-s")
	}
}

// listCase is one kind of list page: the URLs the handler is asked for and,
// for the bare server, the page props of each URL built from rows fetched
// once beforehand.
type listCase struct {
	name  string
	urls  []string
	props map[string]views.LinksPage
}

// BenchmarkListPage measures GET /links with no search through the real
// handler on the bench database (session, CSRF, the keyset query, the
// capped count on the first page, the users for the filter, the full
// page render), the first page and deep keyset pages, beside a baseline
// in the same run: a bare Echo server whose handler renders the same rows,
// fetched beforehand, with the same views.Links component into a buffer,
// asked the same way (httptest, in process). Both report p50/p99 like
// BenchmarkSearch, and the page size so they can be seen to match.
func BenchmarkListPage(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	ctx := context.Background()
	total, err := st.CountLinks(ctx)
	if err != nil {
		b.Fatal(err)
	}
	users, err := st.ListUsers(ctx)
	if err != nil {
		b.Fatal(err)
	}
	me, err := st.UserByEmail(ctx, "bench-admin@bench.invalid")
	if err != nil {
		b.Fatal(err)
	}
	build := func(after string) (string, views.LinksPage) {
		page, err := st.SearchLinks(ctx, db.LinkQuery{After: after, Limit: 50, Sort: db.SortCreated})
		if err != nil {
			b.Fatal(err)
		}
		u := "/links"
		if after != "" {
			// As the Next link writes it: the total rides along.
			u += "?after=" + after + "&total=" + strconv.Itoa(total)
		}
		return u, listProps(app.e, me, users, page, total)
	}

	first := listCase{name: "first-page", props: map[string]views.LinksPage{}}
	u, p := build("")
	first.urls = append(first.urls, u)
	first.props[u] = p

	// Deep pages: keyset cursors at links spread over the table (ids from
	// 1/17 to 16/17 of the way), each page's rows fetched once here.
	deep := listCase{name: "deep-page", props: map[string]views.LinksPage{}}
	const spots = 16
	for i := 1; i <= spots; i++ {
		l, err := st.LinkByID(ctx, int64(i*total/(spots+1)))
		if err != nil {
			continue
		}
		u, p := build(db.CursorAt(l, db.SortCreated))
		if len(p.Rows) == 0 {
			continue
		}
		deep.urls = append(deep.urls, u)
		deep.props[u] = p
	}
	if len(deep.urls) == 0 {
		b.Fatal("no deep page found")
	}

	for _, lc := range []listCase{first, deep} {
		bare := bareListServer(lc.props)
		// The baseline must render the rows the handler renders.
		for _, u := range lc.urls {
			h, bb := get(b, app.e, u, app.cookie), get(b, bare, u, app.cookie)
			want := len(lc.props[u].Rows)
			if hr, br := strings.Count(h, `data-testid="links-row"`), strings.Count(bb, `data-testid="links-row"`); hr != want || br != want {
				b.Fatalf("%s %s: handler rendered %d rows, bare server %d, want %d", lc.name, u, hr, br, want)
			}
		}
		b.Run(lc.name+"/handler", func(b *testing.B) { timeGets(b, app.e, lc.urls, app.cookie) })
		b.Run(lc.name+"/baseline", func(b *testing.B) { timeGets(b, bare, lc.urls, app.cookie) })
	}
}

// bareListServer is Echo with one route and no middleware, rendering the
// prepared props of the requested URL the way handlers' render does.
func bareListServer(props map[string]views.LinksPage) *echo.Echo {
	e := echo.New()
	e.GET("/links", func(c echo.Context) error {
		p, ok := props[c.Request().URL.RequestURI()]
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		buf := templ.GetBuffer()
		defer templ.ReleaseBuffer(buf)
		if err := views.Links(p).Render(c.Request().Context(), buf); err != nil {
			return err
		}
		c.Response().Header().Add(echo.HeaderVary, "HX-Request")
		return c.HTMLBlob(http.StatusOK, buf.Bytes())
	})
	return e
}

// timeGets requests urls in turn, each timed like BenchmarkSearch's.
func timeGets(b *testing.B, h http.Handler, urls []string, cookies []*http.Cookie) {
	var t timings
	var size int64
	i := 0
	for b.Loop() {
		u := urls[i%len(urls)]
		i++
		t.time(func() { size += int64(len(get(b, h, u, cookies))) })
	}
	t.report(b)
	if i > 0 {
		b.ReportMetric(float64(size)/float64(i)/1024, "KiB/page")
	}
}

// get serves one GET in process and fails the benchmark unless it is 200.
func get(b *testing.B, h http.Handler, u string, cookies []*http.Cookie) string {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, u, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: status %d", u, rec.Code)
	}
	return rec.Body.String()
}

// listProps builds the props the links handler builds for an unfiltered
// page, from rows already fetched: same layout, filter form, options and
// page links.
func listProps(e *echo.Echo, me db.User, users []db.User, page db.SearchPage, total int) views.LinksPage {
	r := e.Reverse
	base := r(handlers.RouteLinks)
	p := views.LinksPage{
		Layout: views.Layout{
			Title: "Payment links", Active: "links", CSRF: strings.Repeat("x", 43),
			User:   &views.Viewer{Name: me.Name, Email: me.Email, Role: string(me.Role)},
			Assets: views.Assets{CSS: static.URL("css/app.css"), JS: static.URL("js/app.js"), HTMX: static.URL("js/htmx.min.js")},
			Nav: views.Nav{Home: r(handlers.RouteHome), Links: base, Account: r(handlers.RouteAccount),
				Users: r(handlers.RouteUsers), Settings: r(handlers.RouteSettings), Events: r(handlers.RouteEvents),
				EmailTemplate: r(handlers.RouteEmailTemplate), Mailbox: r(handlers.RouteMailbox),
				Audit: r(handlers.RouteAudit), Logout: r(handlers.RouteLogout), Login: r(handlers.RouteLogin)},
		},
		Action:    base,
		Filter:    views.LinkFilter{Statuses: map[string]bool{}, Sort: db.SortCreated, Errors: views.FieldErrors{}},
		Total:     handlers.FormatCount(total, 10000),
		ClearURL:  base,
		ExportCSV: r(handlers.RouteLinksCSV), ExportXLSX: r(handlers.RouteLinksXLSX),
		NewURL: r(handlers.RouteLinkNew),
		Sorts: []views.Option{{Value: db.SortCreated, Label: "Newest first"},
			{Value: db.SortAmount, Label: "Largest amount first"}, {Value: db.SortStatus, Label: "Status"}},
	}
	for _, s := range []paylink.Status{paylink.StatusCreating, paylink.StatusError, paylink.StatusOpen, paylink.StatusProcessing,
		paylink.StatusPaid, paylink.StatusSettled, paylink.StatusFailed, paylink.StatusExpired} {
		p.Statuses = append(p.Statuses, views.Option{Value: string(s), Label: string(s)})
	}
	for _, c := range stablemint.Currencies() {
		p.Currencies = append(p.Currencies, views.Option{Value: c.Code, Label: c.Code + " — " + c.Name})
	}
	for _, u := range users {
		p.Creators = append(p.Creators, views.Option{Value: strconv.FormatInt(u.ID, 10), Label: u.Name})
	}
	for _, l := range page.Links {
		row := views.LinkRow{ID: l.ID, URL: r(handlers.RouteLink, l.ID), Status: string(l.Status), Amount: amountString(l),
			Customer: l.CustomerID, CustomerEmail: l.CustomerEmail, WebsiteReference: l.WebsiteReference,
			Reference: l.SMReference, Created: l.CreatedAt.UTC().Format("2 Jan 2006 15:04")}
		if !l.ExpiresAt.IsZero() {
			row.Expires = l.ExpiresAt.UTC().Format("2 Jan 2006 15:04")
		}
		p.Rows = append(p.Rows, row)
	}
	link := func(key, cursor string) string {
		return base + "?" + url.Values{key: {cursor}, "total": {strconv.Itoa(total)}}.Encode()
	}
	if page.Next != "" {
		p.NextURL = link("after", page.Next)
	}
	if page.Prev != "" {
		p.PrevURL = link("before", page.Prev)
	}
	return p
}

// BenchmarkListPageCold is the first list page (GET /links) of a store
// just opened after the kernel's page cache was dropped, as after a
// restart of the machine, beside the same page warm: see
// coldFirstRequest. Needs root; run with -benchtime 4x.
func BenchmarkListPageCold(b *testing.B) {
	coldFirstRequest(b, "/links", `data-testid="results"`)
}

// coldFirstRequest measures path as the first request of a freshly
// opened store with the page cache dropped. Each iteration closes the
// last iteration's store (nothing of the bench database stays mapped),
// writes back dirty pages and drops the kernel's page cache (sync; echo
// 3 > /proc/sys/vm/drop_caches: root only, else the benchmark is skipped
// and says why), opens the store and builds the app as serve does, signs
// in through the form (as staff must before any page), then times the
// first GET of path (cold) and 20 more (warm). Reports the cold
// request's median and worst over the iterations, the warm p50, and what
// the cold requests read from the disk (read_bytes of /proc/self/io,
// their average; n/a where that file is missing).
func coldFirstRequest(b *testing.B, path, want string) {
	ctx := context.Background()
	benchDB(b).Close() // seeded and migrated; closed again at cleanup, which is harmless
	var cold, warm timings
	var readBytes int64
	haveIO := true
	var st *db.Store
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	for b.Loop() {
		b.StopTimer()
		if st != nil {
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
		}
		if err := dropPageCache(); err != nil {
			b.Skipf("cannot drop the page cache (%v): cold figures need root", err)
		}
		var err error
		if st, err = db.Open(ctx, benchDBPath()); err != nil {
			b.Fatal(err)
		}
		app := newBenchApp(b, st)
		b.StartTimer()
		read0 := diskReadBytes()
		cold.time(func() { mustContain(b, get(b, app.e, path, app.cookie), want) })
		read1 := diskReadBytes()
		haveIO = haveIO && read0 >= 0 && read1 >= 0
		readBytes += read1 - read0
		for range 20 {
			warm.time(func() { get(b, app.e, path, app.cookie) })
		}
	}
	b.StopTimer()
	if len(cold) == 0 {
		return
	}
	s := slices.Clone(cold)
	slices.Sort(s)
	b.ReportMetric(float64(s[(len(s)-1)/2].Microseconds())/1000, "cold-p50-ms")
	b.ReportMetric(float64(s[len(s)-1].Microseconds())/1000, "cold-max-ms")
	w := slices.Clone(warm)
	slices.Sort(w)
	b.ReportMetric(float64(w[len(w)/2].Microseconds())/1000, "warm-p50-ms")
	if haveIO {
		b.ReportMetric(float64(readBytes)/float64(len(cold))/(1<<20), "cold-read-MiB")
	}
}

// dropPageCache writes dirty pages back and drops the kernel's clean
// page cache, dentries and inodes.
func dropPageCache() error {
	if err := exec.Command("sync").Run(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

// diskReadBytes is what this process has read from storage
// (/proc/self/io read_bytes), or -1 where that is unknown.
func diskReadBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "read_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func mustContain(b *testing.B, body, want string) {
	b.Helper()
	if !strings.Contains(body, want) {
		b.Fatalf("the page has no %s", want)
	}
}
