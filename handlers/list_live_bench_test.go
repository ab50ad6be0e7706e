package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/views"
)

// BenchmarkListLive measures the list's live question (GET /links/live,
// handlers/list_live.go) through the real handler on the bench database,
// for the first page of the unfiltered list as it asks every 10 s: the
// 50 rows on screen by id and version, and the links made since it was
// drawn. changed: 2 rows changed and 3 links are new (200, 2 rows);
// unchanged: nothing happened (204). Beside each, in the same run, a bare
// Echo route with no middleware that reads the same 50 rows by id with
// one SQL query and renders the same answer with the same templ
// component.
func BenchmarkListLive(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	raw := openBenchSQL(b)
	ctx := context.Background()
	last, err := st.LastLinkID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// The first page as the handler draws it: its live URL and rows.
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(get(b, app.e, "/links", app.cookie)))
	if err != nil {
		b.Fatal(err)
	}
	live, _ := doc.Find("#results").Attr("data-list-live")
	var ids []int64
	var rows []string
	doc.Find("tr[data-id]").Each(func(_ int, s *goquery.Selection) {
		id, _ := strconv.ParseInt(s.AttrOr("data-id", ""), 10, 64)
		ids = append(ids, id)
		rows = append(rows, s.AttrOr("data-id", "")+":"+s.AttrOr("data-version", ""))
	})
	if live == "" || len(rows) < 10 {
		b.Fatalf("the first page has no live URL or few rows (%d)", len(rows))
	}
	lu, _ := url.Parse(live)
	ask := func(since int64, rows []string) string {
		v := lu.Query()
		v.Set("since", strconv.FormatInt(since, 10))
		v.Set("rows", strings.Join(rows, ","))
		return lu.Path + "?" + v.Encode()
	}
	changedRows := append([]string{}, rows...)
	changedRows[1] = strings.Split(rows[1], ":")[0] + ":old"
	changedRows[7] = strings.Split(rows[7], ":")[0] + ":old"
	cases := []struct {
		name   string
		url    string
		status int
		sent   []int64 // the rows the answer holds
		new    string
	}{
		{"changed", ask(last-3, changedRows), http.StatusOK, []int64{ids[1], ids[7]}, "3 new links"},
		{"unchanged", ask(last, rows), http.StatusNoContent, nil, ""},
	}
	for _, c := range cases {
		// What the bare route answers: the same rows, read by id.
		bare := echo.New()
		sent := map[int64]bool{}
		for _, id := range c.sent {
			sent[id] = true
		}
		query := "SELECT id, status, amount_minor, currency, customer_id, customer_email, website_reference, COALESCE(sm_reference, ''), " +
			"COALESCE(checkout_url, ''), created_at FROM links WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		bare.GET("/links/live", func(ec echo.Context) error {
			rs, err := raw.db.QueryContext(ec.Request().Context(), query, args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			p := views.LinksLive{Selectable: true, New: c.new}
			for rs.Next() {
				var r views.LinkRow
				var minor, created int64
				var cur string
				if err := rs.Scan(&r.ID, &r.Status, &minor, &cur, &r.Customer, &r.CustomerEmail, &r.WebsiteReference, &r.Reference, &r.CheckoutURL, &created); err != nil {
					return err
				}
				if sent[r.ID] {
					r.Amount = strconv.FormatInt(minor, 10) + " " + cur
					p.Rows = append(p.Rows, r)
				}
			}
			if err := rs.Err(); err != nil {
				return err
			}
			if len(p.Rows) == 0 && p.New == "" {
				return ec.NoContent(http.StatusNoContent)
			}
			buf := templ.GetBuffer()
			defer templ.ReleaseBuffer(buf)
			if err := views.LinksLiveRows(p).Render(ec.Request().Context(), buf); err != nil {
				return err
			}
			return ec.HTMLBlob(http.StatusOK, buf.Bytes())
		})
		// Both answer what the case expects.
		for name, h := range map[string]http.Handler{"handler": app.e, "baseline": bare} {
			rec := serve(h, c.url, app.cookie)
			if rec.Code != c.status {
				b.Fatalf("%s %s: status %d, want %d", c.name, name, rec.Code, c.status)
			}
			if n := strings.Count(rec.Body.String(), `data-testid="links-row"`); n != len(c.sent) {
				b.Fatalf("%s %s: %d rows sent, want %d", c.name, name, n, len(c.sent))
			}
			if c.new != "" && !strings.Contains(rec.Body.String(), `data-new="`+c.new+`"`) {
				b.Fatalf("%s %s: no %q in %s", c.name, name, c.new, rec.Body.String()[:min(200, rec.Body.Len())])
			}
		}
		b.Run(c.name+"/handler", func(b *testing.B) { timeLive(b, app.e, c.url, c.status, app.cookie) })
		b.Run(c.name+"/baseline", func(b *testing.B) { timeLive(b, bare, c.url, c.status, app.cookie) })
	}
}

func serve(h http.Handler, u string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, u, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// timeLive asks u again and again, each request timed like
// BenchmarkSearch's, failing on any other status than want.
func timeLive(b *testing.B, h http.Handler, u string, want int, cookies []*http.Cookie) {
	var t timings
	for b.Loop() {
		var rec *httptest.ResponseRecorder
		t.time(func() { rec = serve(h, u, cookies) })
		if rec.Code != want {
			b.Fatalf("GET %s: %d, want %d", u, rec.Code, want)
		}
	}
	t.report(b)
}
