package db_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

type linkOpt func(*db.NewLink)

func addLink(t testing.TB, st *db.Store, user int64, opts ...linkOpt) db.Link {
	t.Helper()
	nl := db.NewLink{
		IdempotencyKey: fmt.Sprintf("key-%d", time.Now().UnixNano()), CustomerID: "CUST-1", CustomerEmail: "cust@example.com",
		Country: "DE", AmountMinor: 1250, AmountText: "12.50", Currency: "EUR", WebsiteReference: "INV-1",
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
		CreatedBy: user, AllowDuplicate: true,
	}
	for _, o := range opts {
		o(&nl)
	}
	l, _, err := st.CreateLink(context.Background(), nl, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustUser(t testing.TB, st *db.Store) int64 {
	t.Helper()
	u, err := st.CreateUser(context.Background(), db.NewUser{Email: fmt.Sprintf("u%d@example.com", time.Now().UnixNano()), Name: "U", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func ids(p db.SearchPage) []int64 {
	var out []int64
	for _, l := range p.Links {
		out = append(out, l.ID)
	}
	return out
}

func TestSearchRanksExactThenPrefixThenSubstring(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	ctx := context.Background()
	substr := addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "XX-ORDER-77-YY"; n.CustomerEmail = "a@example.com" })
	prefix := addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "ORDER-77-2026"; n.CustomerEmail = "b@example.com" })
	exact := addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "order-77"; n.CustomerEmail = "c@example.com" })
	addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "OTHER"; n.CustomerEmail = "d@example.com" })

	p, err := st.SearchLinks(ctx, db.LinkQuery{Term: "ORDER-77"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(p), []int64{exact.ID, prefix.ID, substr.ID}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want exact, prefix, substring %v", got, want)
	}
	if c, _ := st.SearchLinks(ctx, db.LinkQuery{Term: "ORDER-77", CountUpTo: 100}); c.Total != 3 {
		t.Errorf("count %d", c.Total)
	}
	if id, ok, _ := st.SingleReferenceHit(ctx, "ORDER-77"); !ok || id != exact.ID {
		t.Errorf("single reference hit %d %v", id, ok)
	}
	// Short terms match exactly only (trigram FTS needs three characters).
	if p, _ := st.SearchLinks(ctx, db.LinkQuery{Term: "77"}); len(p.Links) != 0 {
		t.Errorf("two-character term matched %v", ids(p))
	}
}

func TestSearchMatchesEveryReferenceKind(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	ctx := context.Background()
	l := addLink(t, st, u, func(n *db.NewLink) {
		n.IdempotencyKey = "0b4c6a10-7f1e-4a55-9a2d-3c9e1b2f4d5e"
		n.CustomerID, n.CustomerEmail, n.WebsiteReference = "CUST-99", "Grace@Example.com", "INV-2026-001"
	})
	if err := st.CompleteLinkCreation(ctx, l.ID, "SM-REF-123", "https://c/x", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	addLink(t, st, u) // noise
	for _, term := range []string{"SM-REF-123", "sm-ref-123", "0b4c6a10-7f1e-4a55-9a2d-3c9e1b2f4d5e", "cust-99", "grace@example.com", "INV-2026-001", "inv-2026-0", "grace@ex", "ace@exa"} {
		p, err := st.SearchLinks(ctx, db.LinkQuery{Term: term})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Links) == 0 || p.Links[0].ID != l.ID {
			t.Errorf("%q found %v, want %d first", term, ids(p), l.ID)
		}
	}
}

func TestSearchAmount(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	eur := addLink(t, st, u, func(n *db.NewLink) { n.AmountMinor, n.AmountText, n.Currency = 1250, "12.50", "EUR" })
	kwd := addLink(t, st, u, func(n *db.NewLink) { n.AmountMinor, n.AmountText, n.Currency = 12500, "12.500", "KWD" })
	addLink(t, st, u, func(n *db.NewLink) { n.AmountMinor, n.AmountText, n.Currency = 1251, "12.51", "EUR" })
	p, err := st.SearchLinks(context.Background(), db.LinkQuery{Term: "12,50", AmountTexts: []string{"12.50", "12.500"}})
	if err != nil {
		t.Fatal(err)
	}
	got := ids(p)
	slices.Sort(got)
	if !slices.Equal(got, []int64{eur.ID, kwd.ID}) {
		t.Fatalf("amount search found %v", got)
	}
}

func TestSearchTermsAreLiteral(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	weird := addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = `50%_off "quoted" \ it's` })
	addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "500 off" })
	for _, term := range []string{`50%_off`, `%`, `_`, `\`, `"quoted"`, `' OR 1=1 --`, `"; DROP TABLE links; --`, "NUL\x00byte", strings.Repeat("x", 10000)} {
		p, err := st.SearchLinks(context.Background(), db.LinkQuery{Term: term})
		if err != nil {
			t.Fatalf("%q: %v", term, err)
		}
		for _, l := range p.Links {
			if l.ID != weird.ID {
				t.Errorf("%q matched link %d (%q): wildcard or injection", term, l.ID, l.WebsiteReference)
			}
		}
	}
	if p, _ := st.SearchLinks(context.Background(), db.LinkQuery{Term: `50%_off`}); len(p.Links) != 1 {
		t.Errorf("literal %% search found %d", len(p.Links))
	}
	if n, _ := st.CountLinks(context.Background()); n != 2 {
		t.Fatal("links table damaged")
	}
}

func TestSearchFiltersCombine(t *testing.T) {
	st := mustOpenDB(t)
	u1, u2 := mustUser(t, st), mustUser(t, st)
	ctx := context.Background()
	a := addLink(t, st, u1, func(n *db.NewLink) { n.Currency, n.WebsiteReference = "EUR", "ACME-1" })
	addLink(t, st, u1, func(n *db.NewLink) { n.Currency, n.WebsiteReference = "GBP", "ACME-2" })
	addLink(t, st, u2, func(n *db.NewLink) { n.Currency, n.WebsiteReference = "EUR", "ACME-3" })
	st.CompleteLinkCreation(ctx, a.ID, "SM-A", "https://c/a", time.Now().Add(time.Hour))
	p, err := st.SearchLinks(ctx, db.LinkQuery{Term: "ACME", Currency: "EUR", CreatedBy: u1, Statuses: []paylink.Status{paylink.StatusOpen}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []int64{a.ID}) {
		t.Fatalf("got %v, want only %d", got, a.ID)
	}
	if p, _ := st.SearchLinks(ctx, db.LinkQuery{Statuses: []paylink.Status{paylink.StatusCreating}, Currency: "EUR"}); len(p.Links) != 1 {
		t.Fatalf("filters without a term: %v", ids(p))
	}
	future := time.Now().Add(24 * time.Hour)
	if p, _ := st.SearchLinks(ctx, db.LinkQuery{CreatedFrom: future}); len(p.Links) != 0 {
		t.Fatalf("created-from in the future matched %v", ids(p))
	}
}

func TestKeysetPagesAreStableUnderInserts(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	ctx := context.Background()
	for i := 0; i < 23; i++ {
		addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = fmt.Sprintf("PAGE-%02d", i) })
	}
	for _, sort := range []string{db.SortCreated, db.SortAmount, db.SortStatus} {
		for _, term := range []string{"", "PAGE"} {
			t.Run(sort+"/"+term, func(t *testing.T) {
				seen := map[int64]bool{}
				q := db.LinkQuery{Term: term, Sort: sort, Limit: 5}
				var wg sync.WaitGroup
				var first []int64
				for page := 0; ; page++ {
					p, err := st.SearchLinks(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if page == 0 {
						first = ids(p)
					}
					for _, l := range p.Links {
						if seen[l.ID] {
							t.Fatalf("link %d repeated on page %d", l.ID, page)
						}
						seen[l.ID] = true
					}
					// New links arrive while staff page through.
					wg.Add(1)
					go func() { defer wg.Done(); addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "PAGE-NEW" }) }()
					wg.Wait()
					if p.Next == "" {
						break
					}
					q.After = p.Next
					q.Before = ""
					// From the second page, Previous returns the first page exactly.
					if page == 0 {
						second, err := st.SearchLinks(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						back, err := st.SearchLinks(ctx, db.LinkQuery{Term: term, Sort: sort, Limit: 5, Before: second.Prev})
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(ids(back), first) {
							t.Fatalf("previous page %v, want the first page %v", ids(back), first)
						}
					}
				}
				for i := 1; i <= 23; i++ {
					if !seen[int64(i)] {
						t.Fatalf("link %d skipped", i)
					}
				}
			})
		}
	}
}

func TestCountIsCapped(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	for i := 0; i < 12; i++ {
		addLink(t, st, u)
	}
	if p, _ := st.SearchLinks(context.Background(), db.LinkQuery{CountUpTo: 10}); p.Total != 11 {
		t.Fatalf("capped count %d, want 11 (cap+1)", p.Total)
	}
}

func TestStatusUpdateDoesNotRewriteTheIndex(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	l := addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "KEEP-ME" })
	ctx := context.Background()
	if err := st.FailLinkCreation(ctx, l.ID, "nope"); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.SearchLinks(ctx, db.LinkQuery{Term: "EEP-M"}); len(p.Links) != 1 {
		t.Fatalf("substring index lost the link after a status change")
	}
}
