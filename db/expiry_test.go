package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// TestUnknownExpiryIsNeverExpiredOnAGuess: a session StableMint gave no
// expiry for opens, says so on its timeline, and the sweeper leaves it
// open however late it runs.
func TestUnknownExpiryIsNeverExpiredOnAGuess(t *testing.T) {
	ctx := context.Background()
	st := mustOpenDB(t)
	u, err := st.CreateUser(ctx, db.NewUser{Email: "fin@example.com", Name: "Fin", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := st.CreateLink(ctx, db.NewLink{
		IdempotencyKey: "key-unknown", CustomerID: "C1", CustomerEmail: "ada@example.com", Country: "DE",
		AmountMinor: 950, Currency: "EUR", WebsiteReference: "INV-U", SuccessURL: "https://x.example/s",
		SupportURL: "https://x.example/h", ExitURL: "https://x.example/e", ErrorURL: "https://x.example/r", CreatedBy: u.ID,
	}, db.AuditEntry{Action: "link.create"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteLinkCreation(ctx, l.ID, "SM-U", "https://checkout.example/u", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.ExpireLinks(ctx, time.Now().Add(10*365*24*time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("the sweeper expired %d links (%v), want none", n, err)
	}
	got, _ := st.LinkByID(ctx, l.ID)
	if got.Status != paylink.StatusOpen || !got.ExpiresAt.IsZero() {
		t.Fatalf("link %s, expires %v; want open with no expiry", got.Status, got.ExpiresAt)
	}
	tl, _ := st.LinkTimeline(ctx, l.ID)
	if last := tl[len(tl)-1]; !strings.Contains(last.Message, "without saying when it expires") {
		t.Fatalf("timeline %q does not say the expiry is unknown", last.Message)
	}
}

// TestApprovingAHeldCheckoutHostOpensItsLinks: a held session keeps its
// reference and expiry and no checkout URL; approving the host opens every
// link held on it, once, and remembers the host.
func TestApprovingAHeldCheckoutHostOpensItsLinks(t *testing.T) {
	ctx := context.Background()
	st := mustOpenDB(t)
	u, err := st.CreateUser(ctx, db.NewUser{Email: "fin@example.com", Name: "Fin", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, ref := range []string{"INV-H1", "INV-H2", "INV-H3"} {
		l, _, err := st.CreateLink(ctx, db.NewLink{IdempotencyKey: "key-" + ref, CustomerID: "C1", CustomerEmail: "ada@example.com",
			Country: "DE", AmountMinor: 950, Currency: "EUR", WebsiteReference: ref, SuccessURL: "https://x.example/s",
			SupportURL: "https://x.example/h", ExitURL: "https://x.example/e", ErrorURL: "https://x.example/r", CreatedBy: u.ID},
			db.AuditEntry{Action: "link.create"})
		if err != nil {
			t.Fatal(err)
		}
		host := "pay.unknown.example"
		if i == 2 {
			host = "other.example"
		}
		if err := st.HoldLinkCheckout(ctx, l.ID, "SM-"+ref, "https://"+host+"/c/"+ref, host, time.Now().Add(time.Hour), "held"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	held, _ := st.LinkByID(ctx, ids[0])
	if held.Status != paylink.StatusError || held.CheckoutURL != "" || held.SMReference != "SM-INV-H1" || held.ExpiresAt.IsZero() {
		t.Fatalf("held link: %+v", held)
	}
	n, err := st.ApproveCheckoutHost(ctx, "pay.unknown.example", u.ID, db.AuditEntry{Action: "checkout_host.approve"})
	if err != nil || n != 2 {
		t.Fatalf("approve: %d links, %v; want 2", n, err)
	}
	for i, id := range ids {
		l, _ := st.LinkByID(ctx, id)
		wantOpen := i < 2
		if (l.Status == paylink.StatusOpen) != wantOpen || (wantOpen && (l.CheckoutURL == "" || l.HeldCheckoutHost != "")) {
			t.Errorf("link %d after approval: %s url %q held %q", i, l.Status, l.CheckoutURL, l.HeldCheckoutHost)
		}
	}
	if n, _ := st.ApproveCheckoutHost(ctx, "pay.unknown.example", u.ID, db.AuditEntry{Action: "checkout_host.approve"}); n != 0 {
		t.Errorf("approving again opened %d links", n)
	}
	s, _ := st.GetSettings(ctx)
	if len(s.ApprovedCheckoutHosts) != 1 || s.ApprovedCheckoutHosts[0] != "pay.unknown.example" {
		t.Errorf("approved hosts: %v", s.ApprovedCheckoutHosts)
	}
}
