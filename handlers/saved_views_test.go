package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/paylink"
)

// saveView posts the list's Save this view form as the page renders it.
func saveView(t *testing.T, b *browser, listPath, name string) page {
	t.Helper()
	p := b.get(listPath)
	q, ok := p.find("[data-testid=save-view] input[name=query]").Attr("value")
	if !ok {
		t.Fatalf("%s: no Save this view form", listPath)
	}
	return b.submit(listPath, "/links/views", url.Values{"name": {name}, "query": {q}})
}

// savedViewNames lists the saved views beside the tabs, "Shared" marked.
func savedViewNames(p page) []string {
	var out []string
	p.find("[data-testid=saved-view]").Each(func(_ int, s *goquerySelection) {
		out = append(out, strings.Join(strings.Fields(s.Text()), " "))
	})
	return out
}

// TestSavedViews: a user saves the search, filters, sort and tab shown
// under a name; it appears beside the tabs for them only and leads back to
// that search; an admin shares it with the team (marked Shared); only its
// owner deletes it. Each step is audited.
func TestSavedViews(t *testing.T) {
	e := newEnv(t)
	e.addUser("fin@example.com", paylink.RoleFinance)
	e.addUser("fin2@example.com", paylink.RoleFinance)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	fin, fin2, admin := e.browser(), e.browser(), e.browser()
	fin.login("fin@example.com")
	fin2.login("fin2@example.com")
	admin.login("admin@example.com")

	p := saveView(t, fin, "/links?q=INV&status=open&sort=amount", "Open invoices by amount")
	want := "/links?q=INV&sort=amount&status=open"
	if p.status() != http.StatusSeeOther || p.location() != want {
		t.Fatalf("save: %d %q, want 303 to %s", p.status(), p.location(), want)
	}
	list := fin.get("/links")
	if got := savedViewNames(list); len(got) != 1 || got[0] != "Open invoices by amount" {
		t.Fatalf("the owner's saved views: %q", got)
	}
	if href, _ := list.find("[data-testid=saved-view] a").Attr("href"); href != want {
		t.Errorf("the view leads to %q, want %q", href, want)
	}
	if cur, _ := fin.get(want).find("[data-testid=saved-view] a").Attr("aria-current"); cur != "page" {
		t.Error("the view's own search does not mark it current")
	}
	if got := savedViewNames(fin2.get("/links")); len(got) != 0 {
		t.Errorf("another user sees %q before it is shared", got)
	}
	id := strings.TrimPrefix(strings.TrimSuffix(list.find("[data-testid=delete-view]").Closest("form").AttrOr("action", ""), "/delete"), "/links/views/")
	if id == "" {
		t.Fatal("the owner has no Delete")
	}

	// Only admins share.
	if p := fin.submit("/links", "/links/views/"+id+"/share", url.Values{"shared": {"1"}}); p.status() != http.StatusForbidden {
		t.Errorf("finance shares: %d, want 403", p.status())
	}
	if admin.get("/links").find("[data-testid=share-view]").Length() != 0 {
		t.Error("the admin is offered to share a view not shown to them")
	}
	if p := admin.submit("/links", "/links/views/"+id+"/share", url.Values{"shared": {"1"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("admin shares: %d, want 303", p.status())
	}
	if got := savedViewNames(fin2.get("/links")); len(got) != 1 || got[0] != "Open invoices by amount Shared" {
		t.Errorf("another user sees %q once shared", got)
	}
	if n := fin2.get("/links").find("[data-testid=delete-view]").Length(); n != 0 {
		t.Error("another user may delete a shared view")
	}
	if n := admin.get("/links").find("[data-testid=unshare-view]").Length(); n != 1 {
		t.Error("the admin is not offered to stop sharing")
	}

	// Only the owner deletes.
	if p := fin2.submit("/links", "/links/views/"+id+"/delete", url.Values{}); p.status() != http.StatusForbidden {
		t.Errorf("another user deletes: %d, want 403", p.status())
	}
	if p := fin.submit("/links", "/links/views/"+id+"/delete", url.Values{}); p.status() != http.StatusSeeOther {
		t.Fatalf("owner deletes: %d, want 303", p.status())
	}
	if got := savedViewNames(fin2.get("/links")); len(got) != 0 {
		t.Errorf("after delete, saved views %q", got)
	}

	entries, err := e.store.ListAudit(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"saved_view.create", "saved_view.share", "saved_view.delete"} {
		if !hasAudit(entries, action, "saved_view:"+id) {
			t.Errorf("no audit entry %s for saved_view:%s", action, id)
		}
	}
}

// TestSavedViewNeedsAName: a view without a name is not saved, and the
// list says why; a viewer may save views of their own.
func TestSavedViewNeedsAName(t *testing.T) {
	e := newEnv(t)
	e.addUser("view@example.com", paylink.RoleViewer)
	b := e.browser()
	b.login("view@example.com")
	p := saveView(t, b, "/links?status=paid", "   ")
	if p.status() != http.StatusSeeOther {
		t.Fatalf("nameless: %d", p.status())
	}
	after := b.get(p.location())
	if got := after.find("[data-testid=flash]").Text(); !strings.Contains(got, "Give the view a name") {
		t.Errorf("flash %q", got)
	}
	if n := after.find("[data-testid=saved-view]").Length(); n != 0 {
		t.Errorf("a nameless view was saved (%d)", n)
	}
	if p := saveView(t, b, "/links?status=paid", "Paid"); p.status() != http.StatusSeeOther {
		t.Fatalf("viewer saves: %d", p.status())
	}
	if got := savedViewNames(b.get("/links")); len(got) != 1 || got[0] != "Paid" {
		t.Errorf("viewer's views %q", got)
	}
}
