package handlers_test

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// TestUnfilteredTabCountsAreTheKeptFigures: with no term and no filter the
// status tabs' counts are the kept per-status figures, and they agree with
// the links; Needs attention and a filtered list are counted as before.
func TestUnfilteredTabCountsAreTheKeptFigures(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	ls := seedLinks(t, e, u.ID, "UT-1", "UT-2", "UT-3", "UT-4", "UT-5")
	setStatus(t, e, ls[0].ID, paylink.StatusOpen)
	setStatus(t, e, ls[1].ID, paylink.StatusPaid, "paid_after_expiry")
	setStatus(t, e, ls[2].ID, paylink.StatusError)
	setStatus(t, e, ls[3].ID, paylink.StatusCancelled)
	b := e.browser()
	b.login("fin@example.com")
	counts := func(query string) map[string]string {
		h := htmxGet(b, "/links?"+query+"&tab_counts=1")
		got := map[string]string{}
		for _, key := range []string{"all", "open", "processing", "paid", "settled", "attention", "failed", "expired", "cancelled"} {
			got[key] = strings.TrimSpace(h.find("#tab-count-" + key).Text())
		}
		return got
	}
	want := map[string]string{"all": "(5)", "open": "(1)", "processing": "(0)", "paid": "(1)", "settled": "(0)",
		"attention": "(2)", "failed": "(0)", "expired": "(0)", "cancelled": "(1)"}
	if got := counts("sort=amount"); !reflect.DeepEqual(got, want) {
		t.Errorf("unfiltered tab counts %v, want %v", got, want)
	}
	// The kept figures answer the unfiltered list: changed behind the
	// store's back, they show; a filtered list still counts the links.
	raw, err := sql.Open("sqlite", db.DSN(e.store.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE figures_status SET links = links + 7 WHERE status = 'open'"); err != nil {
		t.Fatal(err)
	}
	if got := counts("sort=amount")["open"]; got != "(8)" {
		t.Errorf("unfiltered Open %s, want the kept (8)", got)
	}
	if got := counts("q=UT-1")["open"]; got != "(1)" {
		t.Errorf("searched Open %s, want the links' (1)", got)
	}
}
