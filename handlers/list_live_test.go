package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// openLink makes a link and opens it as StableMint's answer would, with a
// checkout page on the sandbox's host.
func openLink(t *testing.T, e *env, user int64, ref string, expires time.Time) db.Link {
	t.Helper()
	l := seedLinks(t, e, user, ref)[0]
	if err := e.store.CompleteLinkCreation(context.Background(), l.ID, "SM-"+ref, "https://pay.example/c/"+ref, expires); err != nil {
		t.Fatal(err)
	}
	return l
}

// searchSubmit is the search form submitted with JavaScript: htmx, marked
// by app.js as a submit (Enter or Search), not typing.
func searchSubmit(b *browser, path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-Search-Submit", "1")
	return b.do(req)
}

// TestSearchEnterOnExactReferenceWithJavaScript: Enter on a reference that
// one link has goes to that link with JavaScript on too (htmx follows
// HX-Redirect); typing the same term only lists it; Enter on a term that
// is not one link's reference lists the matches.
func TestSearchEnterOnExactReferenceWithJavaScript(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	ls := seedLinks(t, e, u.ID, "INV-100", "INV-1000")
	b := e.browser()
	b.login("fin@example.com")

	p := searchSubmit(b, "/links?q=INV-100")
	if p.status() != http.StatusNoContent || p.resp.Header.Get("HX-Redirect") != linkPath(ls[0].ID) {
		t.Fatalf("Enter on an exact reference: %d, HX-Redirect %q, want 204 to %s", p.status(), p.resp.Header.Get("HX-Redirect"), linkPath(ls[0].ID))
	}
	p = htmxGet(b, "/links?q=INV-100")
	if p.status() != http.StatusOK || p.resp.Header.Get("HX-Redirect") != "" {
		t.Fatalf("typing an exact reference: %d, HX-Redirect %q; want the list", p.status(), p.resp.Header.Get("HX-Redirect"))
	}
	if n := p.find("[data-testid=links-row]").Length(); n != 2 { // INV-100 and INV-1000
		t.Errorf("typing an exact reference lists %d rows, want 2", n)
	}
	p = searchSubmit(b, "/links?q=INV-10")
	if p.status() != http.StatusOK || p.resp.Header.Get("HX-Redirect") != "" || p.find("[data-testid=links-row]").Length() != 2 {
		t.Errorf("Enter on a prefix: %d, HX-Redirect %q, %d rows; want the 2 matches listed", p.status(),
			p.resp.Header.Get("HX-Redirect"), p.find("[data-testid=links-row]").Length())
	}
	// With a filter set, Enter searches, as without JavaScript.
	p = searchSubmit(b, "/links?q=INV-100&status=paid")
	if p.resp.Header.Get("HX-Redirect") != "" {
		t.Errorf("Enter with a status filter went to %s", p.resp.Header.Get("HX-Redirect"))
	}
}

// TestListRowActions: an open link's row offers Copy link (its checkout
// URL) and Open (its page), to every role; a link that cannot be paid
// (creating, paid, held for an admin, or past its expiry) offers neither.
func TestListRowActions(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	e.addUser("view@example.com", paylink.RoleViewer)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	now := e.clock.Now()
	open := openLink(t, e, u.ID, "ROW-OPEN", now.Add(24*time.Hour))
	paid := openLink(t, e, u.ID, "ROW-PAID", now.Add(24*time.Hour))
	setStatus(t, e, paid.ID, paylink.StatusPaid)
	stale := openLink(t, e, u.ID, "ROW-STALE", now.Add(-time.Minute)) // past its expiry, not swept yet
	creating := seedLinks(t, e, u.ID, "ROW-CREATING")[0]
	held := seedLinks(t, e, u.ID, "ROW-HELD")[0]
	if err := e.store.HoldLinkCheckout(context.Background(), held.ID, "SM-HELD", "https://evil.example/c", "evil.example", now.Add(time.Hour), "unknown host"); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"fin@example.com", "view@example.com", "admin@example.com"} {
		b := e.browser()
		b.login(who)
		p := b.get("/links")
		if p.status() != http.StatusOK {
			t.Fatalf("%s: GET /links %d", who, p.status())
		}
		row := func(id int64) *goquerySelection {
			return p.find(`[data-testid=links-row][data-id="` + itoa(int(id)) + `"]`)
		}
		if got, _ := row(open.ID).Find("[data-testid=copy-link]").Attr("data-copy-url"); got != "https://pay.example/c/ROW-OPEN" {
			t.Errorf("%s: open link's Copy link copies %q", who, got)
		}
		if got, _ := row(open.ID).Find("[data-testid=open-link]").Attr("href"); got != linkPath(open.ID) {
			t.Errorf("%s: open link's Open goes to %q, want %s", who, got, linkPath(open.ID))
		}
		if !strings.Contains(row(open.ID).Find("[data-testid=copy-link]").Text(), "Copy link") {
			t.Errorf("%s: the copy button reads %q", who, row(open.ID).Find("[data-testid=copy-link]").Text())
		}
		for name, id := range map[string]int64{"paid": paid.ID, "past expiry": stale.ID, "creating": creating.ID, "held": held.ID} {
			if row(id).Length() != 1 {
				t.Fatalf("%s: no row for the %s link", who, name)
			}
			if n := row(id).Find("[data-testid=copy-link], [data-testid=open-link]").Length(); n != 0 {
				t.Errorf("%s: the %s link's row offers %d row actions, want none", who, name, n)
			}
		}
		if strings.Contains(p.body, "evil.example") {
			t.Errorf("%s: the held checkout URL is on the list", who)
		}
	}
}

// TestListLayoutMarkup: the table is a labelled region the keyboard can
// scroll, and a StableMint reference cut short on screen keeps the whole
// reference in its title.
func TestListLayoutMarkup(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	l := openLink(t, e, u.ID, "LAYOUT-1", e.clock.Now().Add(time.Hour))
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/links")
	wrap := p.find(".table-wrap")
	if tab, _ := wrap.Attr("tabindex"); tab != "0" {
		t.Errorf("table wrapper tabindex %q, want 0", tab)
	}
	if role, _ := wrap.Attr("role"); role != "region" {
		t.Errorf("table wrapper role %q, want region", role)
	}
	if label, _ := wrap.Attr("aria-label"); label == "" {
		t.Error("table wrapper has no label")
	}
	ref := p.find(`[data-testid=links-row][data-id="` + itoa(int(l.ID)) + `"] [data-testid=row-sm-reference]`)
	if title, _ := ref.Attr("title"); title != "SM-LAYOUT-1" || ref.Text() != "SM-LAYOUT-1" {
		t.Errorf("StableMint reference %q, title %q; want SM-LAYOUT-1 in both", ref.Text(), title)
	}
}

// liveURL reads where a list page asks for its live updates, with the
// rows on screen at the versions drawn.
func liveURL(t *testing.T, p page) string {
	t.Helper()
	u, ok := p.find("#results").Attr("data-list-live")
	if !ok || u == "" {
		t.Fatal("the list asks for no live updates")
	}
	var rows []string
	p.find("tr[data-id]").Each(func(_ int, r *goquerySelection) {
		id, _ := r.Attr("data-id")
		v, _ := r.Attr("data-version")
		rows = append(rows, id+":"+v)
	})
	return u + "&rows=" + url.QueryEscape(strings.Join(rows, ","))
}

// TestListLiveRows: the list's live question is answered 204 while
// nothing changed; a link that changed comes back alone, with its new
// badge; links made since that match the list are counted ("1 new link"),
// others not.
func TestListLiveRows(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	now := e.clock.Now()
	a := openLink(t, e, u.ID, "LIVE-A", now.Add(24*time.Hour))
	openLink(t, e, u.ID, "LIVE-B", now.Add(24*time.Hour))
	b := e.browser()
	b.login("fin@example.com")

	list := b.get("/links?q=LIVE")
	live := liveURL(t, list)
	if p := b.get(live); p.status() != http.StatusNoContent {
		t.Fatalf("nothing changed: %d, want 204", p.status())
	}

	e.clock.Advance(time.Second)
	setStatus(t, e, a.ID, paylink.StatusPaid)
	p := b.get(live)
	if p.status() != http.StatusOK {
		t.Fatalf("a link paid: %d, want 200", p.status())
	}
	rows := p.find("[data-list-update] tr[data-id]")
	if rows.Length() != 1 || rows.AttrOr("data-id", "") != itoa(int(a.ID)) {
		t.Fatalf("a link paid: %d rows sent, want only link %d's", rows.Length(), a.ID)
	}
	if got := strings.TrimSpace(rows.Find("[data-testid=link-status]").Text()); got != "paid" {
		t.Errorf("the paid link's row says %q", got)
	}
	if rows.Find("[data-testid=copy-link]").Length() != 0 {
		t.Error("the paid link's row still offers Copy link")
	}
	// The list has a column of boxes: the row keeps its cell (empty: a
	// paid link can be neither emailed nor cancelled).
	if rows.Find("td.select").Length() != 1 || rows.Find("[data-testid=select-link]").Length() != 0 {
		t.Error("the row sent has not the list's column of boxes, or a box on a paid link")
	}
	if got := p.find("[data-list-update]").AttrOr("data-new", "?"); got != "" {
		t.Errorf("no new links yet, the answer says %q", got)
	}

	// Links made since: one matches the search, one does not.
	seedLinks(t, e, u.ID, "LIVE-C", "OTHER-D")
	p = b.get(live)
	if got := p.find("[data-list-update]").AttrOr("data-new", ""); got != "1 new link" {
		t.Errorf("new links: %q, want %q", got, "1 new link")
	}
	// The "show" goes to the list's first page, with the search.
	if got := list.find("[data-testid=new-links]").AttrOr("data-show-url", ""); got != "/links?q=LIVE" {
		t.Errorf("show new links goes to %q", got)
	}
	// Without a search, every new link counts.
	all := b.get("/links")
	seedLinks(t, e, u.ID, "NEW-E", "NEW-F", "NEW-G")
	p = b.get(liveURL(t, all))
	if got := p.find("[data-list-update]").AttrOr("data-new", ""); got != "3 new links" {
		t.Errorf("new links on the whole list: %q, want %q", got, "3 new links")
	}
}

// TestListLiveRowsViewer: a viewer's list has no tick boxes, and the rows
// its live updates send have none either; a list whose dates are the wrong
// way round (nothing searched) asks for nothing.
func TestListLiveRowsViewer(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	e.addUser("view@example.com", paylink.RoleViewer)
	l := openLink(t, e, u.ID, "VIEW-A", e.clock.Now().Add(time.Hour))
	b := e.browser()
	b.login("view@example.com")
	list := b.get("/links")
	live := liveURL(t, list)
	e.clock.Advance(time.Second)
	setStatus(t, e, l.ID, paylink.StatusProcessing)
	p := b.get(live)
	rows := p.find("[data-list-update] tr[data-id]")
	if rows.Length() != 1 || rows.Find("input").Length() != 0 {
		t.Errorf("viewer's live rows: %d rows, %d inputs; want 1 row without a box", rows.Length(), rows.Find("input").Length())
	}
	if got := strings.TrimSpace(rows.Find("[data-testid=link-status]").Text()); got != "processing" {
		t.Errorf("row says %q, want processing", got)
	}
	refused := b.get("/links?created_from=2026-11-20&created_to=2026-11-10")
	if _, ok := refused.find("#results").Attr("data-list-live"); ok {
		t.Error("a refused search asks for live updates")
	}
}

// TestListLiveSignedOut: the live question needs a session like the list.
func TestListLiveSignedOut(t *testing.T) {
	e := newEnv(t)
	p := e.browser().get("/links/live?since=0&rows=1:x")
	if p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Errorf("signed out: %d %q, want a redirect to sign in", p.status(), p.location())
	}
}
