package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/stablemint"
)

func TestSeedLinksAreSearchableAndTriggersComeBack(t *testing.T) {
	st := mustOpenDB(t)
	u := mustUser(t, st)
	ctx := context.Background()
	gen := db.FakeLinks(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), 1)
	if err := st.SeedLinks(ctx, 500, 128, u, gen, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountLinks(ctx); n != 500 {
		t.Fatalf("%d links", n)
	}
	if n, _ := st.RealLinkCount(ctx); n != 0 {
		t.Fatalf("%d real links after seeding", n)
	}
	// None is left creating: a server started on seeded data would mint
	// those at StableMint (recovery).
	if left, err := st.LinksCreating(ctx, time.Now().Add(time.Hour)); err != nil || len(left) != 0 {
		t.Fatalf("%d seeded links creating (%v): recovery would mint them", len(left), err)
	}
	l7 := gen(7)
	for _, term := range []string{l7.WebsiteReference, l7.CustomerEmail[:6], l7.WebsiteReference[3:12]} {
		p, err := st.SearchLinks(ctx, db.LinkQuery{Term: term})
		if err != nil || len(p.Links) == 0 {
			t.Errorf("%q: %v, %d hits", term, err, len(p.Links))
		}
	}
	// The triggers are back: a link made after seeding is indexed.
	real := addLink(t, st, u, func(n *db.NewLink) { n.WebsiteReference = "AFTER-SEED-1" })
	if p, _ := st.SearchLinks(ctx, db.LinkQuery{Term: "FTER-SEE"}); len(p.Links) != 1 || p.Links[0].ID != real.ID {
		t.Fatalf("post-seed link not in the substring index")
	}
	if n, _ := st.RealLinkCount(ctx); n != 1 {
		t.Fatalf("real links %d, want 1", n)
	}
	// Seeded amounts are written exactly as the currency writes them.
	for i := 0; i < 200; i++ {
		l := gen(i)
		a, err := stablemint.NewAmount(l.AmountMinor, l.Currency)
		if err != nil || a.String() != l.AmountText {
			t.Fatalf("link %d: %d %s written %q, want %q", i, l.AmountMinor, l.Currency, l.AmountText, a.String())
		}
	}
}
