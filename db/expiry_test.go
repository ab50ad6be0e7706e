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
