package handlers_test

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
)

// seedLinks makes links directly in the store (no StableMint call).
func seedLinks(t *testing.T, e *env, user int64, refs ...string) []db.Link {
	t.Helper()
	var out []db.Link
	for i, ref := range refs {
		l, _, err := e.store.CreateLink(context.Background(), db.NewLink{
			IdempotencyKey: "k-" + ref + "-" + itoa(i), CustomerID: "C-" + itoa(i), CustomerEmail: "c" + itoa(i) + "@example.com",
			Country: "DE", AmountMinor: 500 + int64(i), AmountText: "5.0" + itoa(i%10), Currency: "EUR", WebsiteReference: ref,
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: user, AllowDuplicate: true,
		}, db.AuditEntry{Action: "test"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func TestSearchSingleReferenceGoesToTheLink(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	links := seedLinks(t, e, u.ID, "INV-100", "INV-1000", "INV-200")
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/links?q=inv-100")
	if p.status() != http.StatusSeeOther || p.location() != "/links/"+itoa(int(links[0].ID)) {
		t.Fatalf("exact reference: %d %q", p.status(), p.location())
	}
	p = b.get("/links?q=INV-10")
	if p.status() != http.StatusOK || p.find("[data-testid=links-row]").Length() != 2 {
		t.Fatalf("prefix: %d, %d rows", p.status(), p.find("[data-testid=links-row]").Length())
	}
	if got := loadTotal(b, p); got != "1–2 of 2" {
		t.Errorf("total %q", got)
	}
}

func TestSearchURLRoundTripAndPages(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	refs := make([]string, 60)
	for i := range refs {
		refs[i] = "BATCH-" + itoa(1000+i)
	}
	seedLinks(t, e, u.ID, refs...)
	b := e.browser()
	b.login("fin@example.com")
	q := url.Values{"q": {"BATCH"}, "status": {"creating"}, "currency": {"EUR"}, "created_by": {itoa(int(u.ID))}, "sort": {"amount"}}
	p := b.get("/links?" + q.Encode())
	if p.status() != http.StatusOK {
		t.Fatalf("%d", p.status())
	}
	if v, _ := p.find("#q").Attr("value"); v != "BATCH" {
		t.Errorf("term not kept: %q", v)
	}
	if _, ok := p.find(`input[name=status][value=creating]`).Attr("checked"); !ok {
		t.Error("status filter not kept")
	}
	if v, _ := p.find(`select[name=sort] option[selected]`).Attr("value"); v != "amount" {
		t.Errorf("sort not kept: %q", v)
	}
	if n := p.find("[data-testid=links-row]").Length(); n != 50 {
		t.Fatalf("page 1 has %d rows", n)
	}
	// The prefix matches fill the page, so its total comes just after it:
	// htmx loads it, and without JavaScript a link counts it in the page.
	if got := loadTotal(b, p); got != "1–50 of 60" {
		t.Errorf("total loaded by htmx %q", got)
	}
	if got := countedTotal(b, p); got != "1–50 of 60" {
		t.Errorf("total counted without JavaScript %q", got)
	}
	next, ok := p.find("[data-testid=next-page]").Attr("href")
	if !ok || !strings.Contains(next, "q=BATCH") || !strings.Contains(next, "sort=amount") {
		t.Fatalf("next link %q loses the search", next)
	}
	p2 := b.get(next)
	if n := p2.find("[data-testid=links-row]").Length(); n != 10 {
		t.Fatalf("page 2 has %d rows", n)
	}
	if got := squash(p2.find("[data-testid=total]").Text()); got != "51–60 of 60" {
		t.Errorf("page 2 says %q", got)
	}
	prev, ok := p2.find("[data-testid=prev-page]").Attr("href")
	if !ok {
		t.Error("no previous link on page 2")
	} else if got := squash(b.get(prev).find("[data-testid=total]").Text()); got != "1–50 of 60" {
		t.Errorf("back on page 1 it says %q", got)
	}
	if p2.find("[data-testid=next-page]").Length() != 0 {
		t.Error("next link on the last page")
	}
	// Amount sort: the first row of page 1 is the largest amount.
	if first := p.find("[data-testid=links-row]").First().Text(); !strings.Contains(first, "€5.59") {
		t.Errorf("largest amount first, got %q", first)
	}
}

// loadTotal returns a page's "1–50 of 1,234" as a browser with
// JavaScript shows it: at once, or, when the page deferred the count, as
// htmx loads it into the page.
func loadTotal(b *browser, p page) string {
	b.t.Helper()
	el := p.find("[data-testid=total]").Clone() // the page itself stays as served
	cnt := el.Find("[data-testid=total-count]")
	src, deferred := cnt.Attr("hx-get")
	if !deferred {
		return squash(el.Text())
	}
	if trigger, _ := cnt.Attr("hx-trigger"); trigger != "load" {
		b.t.Fatalf("deferred total loads on %q", trigger)
	}
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+src, nil)
	req.Header.Set("HX-Request", "true")
	got := b.do(req)
	if got.status() != http.StatusOK || got.find("[data-testid=total-count]").Length() != 1 {
		b.t.Fatalf("deferred total: %d %q", got.status(), got.body)
	}
	cnt.SetText(got.find("[data-testid=total-count]").Text())
	return squash(el.Text())
}

// countedTotal returns a page's "1–50 of 1,234" as a browser without
// JavaScript shows it: at once, or, when the page deferred the count, on
// the page its <noscript> link opens.
func countedTotal(b *browser, p page) string {
	b.t.Helper()
	el := p.find("[data-testid=total] [data-testid=total-count]")
	if _, deferred := el.Attr("hx-get"); !deferred {
		return squash(p.find("[data-testid=total]").Text())
	}
	// Parsed as a browser with scripting parses it, <noscript> holds text.
	inner, err := goquery.NewDocumentFromReader(strings.NewReader(el.Find("noscript").Text()))
	if err != nil {
		b.t.Fatal(err)
	}
	href, ok := inner.Find("[data-testid=count-link]").Attr("href")
	if !ok {
		b.t.Fatalf("deferred total without a link to count it: %q", el.Text())
	}
	got := b.get(href)
	if _, deferred := got.find("[data-testid=total-count]").Attr("hx-get"); deferred || got.status() != http.StatusOK {
		b.t.Fatalf("the count link %s deferred again (%d)", href, got.status())
	}
	return squash(got.find("[data-testid=total]").Text())
}

// squash is text as a page shows it: runs of white space as one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestSearchHtmxGetsOnlyTheResults(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedLinks(t, e, u.ID, "HX-1", "HX-2")
	b := e.browser()
	b.login("fin@example.com")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/links?q=HX-", nil)
	req.Header.Set("HX-Request", "true")
	p := b.do(req)
	if p.status() != http.StatusOK || strings.Contains(p.body, "<html") || p.find("#results").Length() != 1 {
		t.Fatalf("fragment: %d, full page=%v", p.status(), strings.Contains(p.body, "<html"))
	}
	if vary := strings.Join(p.resp.Header.Values("Vary"), ","); !strings.Contains(vary, "HX-Request") {
		t.Errorf("Vary %q", vary)
	}
	full := b.get("/links?q=HX-")
	if !strings.Contains(full.body, "<html") || full.find("[data-testid=search-form]").Length() != 1 {
		t.Fatal("no-JavaScript request did not get the full page")
	}
}

func TestSearchInjectionIsLiteral(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedLinks(t, e, u.ID, "NORMAL-1")
	b := e.browser()
	b.login("fin@example.com")
	for _, q := range []string{"%", "_", "' OR 1=1 --", `"`, "\\", strings.Repeat("z", 10000), "NUL\x00"} {
		p := b.get("/links?q=" + url.QueryEscape(q))
		if p.status() != http.StatusOK || p.find("[data-testid=links-row]").Length() != 0 {
			t.Errorf("q=%.20q: status %d, %d rows", q, p.status(), p.find("[data-testid=links-row]").Length())
		}
		if strings.Contains(p.body, "SQL") {
			t.Errorf("q=%.20q: SQL text on the page", q)
		}
	}
	if p := b.get("/links?created_from=yesterday"); p.status() != http.StatusOK || p.find(`[data-field="created_from"]`).Length() != 1 {
		t.Errorf("bad date: %d", p.status())
	}
}

func TestExportCSV(t *testing.T) {
	e := newEnv(t)
	admin := e.addUser("admin@example.com", paylink.RoleAdmin)
	e.addUser("fin@example.com", paylink.RoleFinance)
	ctx := context.Background()
	_, _, err := e.store.CreateLink(ctx, db.NewLink{
		IdempotencyKey: "k1", CustomerID: "Doe, \"Jane\"\nSecond line", CustomerEmail: "j@example.com", Country: "FR",
		AmountMinor: 1050, AmountText: "10.50", Currency: "EUR", WebsiteReference: `=HYPERLINK("http://x")`,
		Note: "+1 call", KYC: map[string]string{"fullName": "Jane Doe"},
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: admin.ID,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	seedLinks(t, e, admin.ID, "CSV-A", "CSV-B", "OTHER")

	read := func(b *browser, query string) ([][]string, *http.Response) {
		p := b.get("/links/export.csv?" + query)
		if p.status() != http.StatusOK {
			t.Fatalf("export: %d", p.status())
		}
		rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
		if err != nil {
			t.Fatalf("not RFC 4180: %v", err)
		}
		return rows, p.resp
	}
	a := e.browser()
	a.login("admin@example.com")
	rows, resp := read(a, "")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", resp.Header)
	}
	if len(rows) != 5 || rows[0][0] != "id" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var jane []string
	for _, r := range rows[1:] {
		if strings.HasPrefix(r[col["customer_id"]], "Doe") {
			jane = r
		}
	}
	if jane == nil {
		t.Fatal("row missing")
	}
	if got := jane[col["customer_id"]]; got != "Doe, \"Jane\"\nSecond line" {
		t.Errorf("commas, quotes and newline did not round-trip: %q", got)
	}
	if got := jane[col["website_reference"]]; got != `'=HYPERLINK("http://x")` {
		t.Errorf("formula not neutralised: %q", got)
	}
	if got := jane[col["note"]]; got != "'+1 call" {
		t.Errorf("note %q", got)
	}
	if got := jane[col["amount"]]; got != "10.50" || jane[col["currency"]] != "EUR" {
		t.Errorf("amount %q %q", got, jane[col["currency"]])
	}
	if got := jane[col["kyc_fullName"]]; got != "Jane Doe" {
		t.Errorf("admin KYC column %q", got)
	}

	f := e.browser()
	f.login("fin@example.com")
	frows, _ := read(f, "")
	for _, h := range frows[0] {
		if strings.HasPrefix(h, "kyc_") {
			t.Fatalf("finance export has KYC column %s", h)
		}
	}
	// Same filters as the page: same count.
	filtered, _ := read(f, "q=CSV-")
	page := f.get("/links?q=CSV-")
	if total := loadTotal(f, page); !strings.HasSuffix(total, " of "+itoa(len(filtered)-1)) {
		t.Errorf("export has %d rows, page says %q", len(filtered)-1, total)
	}
	exportHref, _ := page.find("[data-testid=export-csv]").Attr("href")
	if !strings.Contains(exportHref, "q=CSV-") {
		t.Errorf("export link %q drops the search", exportHref)
	}
	entries, _ := e.store.ListAudit(ctx, 50)
	if !hasAudit(entries, "links.export", "links") {
		t.Error("export not audited")
	}
}

func TestExportXLSX(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedLinks(t, e, u.ID, "XL-1", `=CMD("x")`, "OTHER")
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/links?q=XL-")
	href, _ := p.find("[data-testid=export-xlsx]").Attr("href")
	x := b.get(href)
	if x.status() != http.StatusOK || !strings.Contains(x.resp.Header.Get("Content-Disposition"), ".xlsx") {
		t.Fatalf("xlsx: %d %v", x.status(), x.resp.Header)
	}
	f, err := excelize.OpenReader(strings.NewReader(x.body))
	if err != nil {
		t.Fatalf("not a workbook: %v", err)
	}
	rows, err := f.GetRows("Links")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "id" || rows[1][7] != "XL-1" {
		t.Fatalf("rows %v", rows)
	}
	formulas, _ := f.GetCellFormula("Links", "H2")
	if formulas != "" {
		t.Fatalf("a cell became a formula: %q", formulas)
	}
	// A formula-like reference is text, in the Text format, so editing
	// the cell in Excel later cannot make it a live formula.
	all := b.get("/links/export.xlsx")
	fa, err := excelize.OpenReader(strings.NewReader(all.body))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = fa.GetRows("Links")
	found := false
	for r, row := range rows {
		if len(row) > 7 && row[7] == `=CMD("x")` {
			found = true
			cell, _ := excelize.CoordinatesToCellName(8, r+1)
			id, _ := fa.GetCellStyle("Links", cell)
			st, err := fa.GetStyle(id)
			if err != nil || st.NumFmt != 49 {
				t.Fatalf("%s holds =CMD as %+v (%v), want the Text format (49)", cell, st, err)
			}
		}
	}
	if !found {
		t.Fatalf("the formula-like reference is missing from %v", rows)
	}
}

// tooBroad answers every search for "INV" as a term too broad to list.
type tooBroad struct{ handlers.Store }

func (s tooBroad) SearchLinks(ctx context.Context, q db.LinkQuery) (db.SearchPage, error) {
	if q.Term == "INV" {
		if q.WalkBudget <= 0 {
			return db.SearchPage{}, errors.New("the list must bound a broad search")
		}
		return db.SearchPage{}, db.ErrSearchTooBroad
	}
	return s.Store.SearchLinks(ctx, q)
}

// TestTooBroadSearchSaysSoBesideTheBox: a term too broad to list quickly
// gets a message, keeps what was typed and says 10,000+, for a full page
// and the htmx fragment alike.
func TestTooBroadSearchSaysSoBesideTheBox(t *testing.T) {
	e := newEnv(t, func(c *app.Config, _ *app.Parts) {
		c.Web = func(o *handlers.Options) { o.Store = tooBroad{o.Store} }
	})
	e.addUser("v@example.com", paylink.RoleViewer)
	b := e.browser()
	b.login("v@example.com")
	for _, hx := range []bool{false, true} {
		var p page
		if hx {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/links?q=INV", nil)
			req.Header.Set("HX-Request", "true")
			p = b.do(req)
		} else {
			p = b.get("/links?q=INV")
		}
		if p.status() != http.StatusOK || !strings.Contains(p.find("[data-field=q]").Text(), "More than 10,000 links match") ||
			!strings.Contains(p.find("[data-testid=total]").Text(), "10,000+") || p.find("[data-testid=links-row]").Length() != 0 {
			t.Fatalf("htmx=%v: status %d, message %q, total %q", hx, p.status(), p.find("[data-field=q]").Text(), p.find("[data-testid=total]").Text())
		}
		if !hx {
			if v, _ := p.find("#q").Attr("value"); v != "INV" {
				t.Fatalf("search box holds %q, want what was typed", v)
			}
		}
	}
}
