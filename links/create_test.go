package links_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// minting is a minter over a real SQLite file and the sandbox on loopback.
type minting struct {
	st     *db.Store
	sb     *sandbox.Server
	minter *links.Minter
	client *stablemint.Client
	user   int64
}

func newMinting(t testing.TB) *minting {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "links.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	partner, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Addr: "127.0.0.1:0", APIKey: "k", APISecret: "s", PartnerPublicKey: &partner.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	u, _ := url.Parse(sb.URL())
	client, err := stablemint.New(stablemint.Config{BaseURL: sb.URL(), APIKey: "k", APISecret: "s", PrivateKey: partner,
		CheckoutHosts: []string{u.Host}, MaxAttempts: 1, BreakerThreshold: 1000, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	usr, err := st.CreateUser(ctx, db.NewUser{Email: "fin@example.com", Name: "Fin", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &minting{st: st, sb: sb, minter: links.NewMinter(st, client, nil, nil), client: client, user: usr.ID}
}

func draft(ref string) links.Draft {
	return links.Draft{FormToken: "tok-" + ref, Fields: map[string]string{
		"userId": "CUST-42", "userEmail": "ada@example.com", "userCountryCode": "DE", "currency": "EUR", "amount": "9.50",
		"websiteReference": ref, "successUrl": "https://shop.example/s", "supportUrl": "https://shop.example/h",
		"exitUrl": "https://shop.example/e", "errorUrl": "https://shop.example/r", "userKyc.fullName": "Ada Lovelace",
	}}
}

// TestCreateMintsOnceAndRefusesBadDrafts is the service every front door
// calls: a bad draft stores nothing, a good one is minted, the same form
// token never makes a second link or session, and a look-alike asks first.
func TestCreateMintsOnceAndRefusesBadDrafts(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	audit := db.AuditEntry{Action: "link.create"}

	bad := draft("INV-BAD")
	bad.Fields["amount"], bad.Fields["userEmail"] = "5.", "not-an-email"
	if _, errs, err := m.minter.Create(ctx, bad, m.user, audit); err != nil || errs["amount"] == "" || errs["userEmail"] == "" {
		t.Fatalf("bad draft: errs %v, err %v; want messages for amount and email", errs, err)
	}
	if n := len(m.sb.Sessions()); n != 0 {
		t.Fatalf("a refused draft reached StableMint (%d sessions)", n)
	}

	l, errs, err := m.minter.Create(ctx, draft("INV-1"), m.user, audit)
	if err != nil || len(errs) > 0 {
		t.Fatalf("create: %v %v", errs, err)
	}
	if l.Status != paylink.StatusOpen || l.SMReference == "" || l.CheckoutURL == "" || l.AmountMinor != 950 {
		t.Fatalf("created link %+v: want open with a session", l)
	}
	again, _, err := m.minter.Create(ctx, draft("INV-1"), m.user, audit)
	if err != nil || again.ID != l.ID {
		t.Fatalf("the same form token made link %d (%v), want %d", again.ID, err, l.ID)
	}
	if n := len(m.sb.Sessions()); n != 1 {
		t.Fatalf("%d sessions at StableMint, want 1", n)
	}

	lookalike := draft("INV-1")
	lookalike.FormToken = "another-submission"
	var dup *db.DuplicateError
	if _, _, err := m.minter.Create(ctx, lookalike, m.user, audit); !errors.As(err, &dup) || len(dup.Links) != 1 {
		t.Fatalf("a look-alike of an unfinished link: %v, want a DuplicateError naming it", err)
	}
	lookalike.AllowDuplicate = true
	if l2, _, err := m.minter.Create(ctx, lookalike, m.user, audit); err != nil || l2.ID == l.ID {
		t.Fatalf("confirmed look-alike: %v", err)
	}
}

func TestCreateRecordsStableMintsRefusalAndRetryReusesTheKey(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	m.sb.FailNextCreates(1, 503)
	l, _, err := m.minter.Create(ctx, draft("INV-DOWN"), m.user, db.AuditEntry{Action: "link.create"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Status != paylink.StatusError || !strings.Contains(l.LastError, "StableMint had an error on its side (HTTP 503 Service Unavailable)") {
		t.Fatalf("after a 503: %s %q", l.Status, l.LastError)
	}
	if err := m.minter.Retry(ctx, l.ID, m.user, db.AuditEntry{Action: "link.retry"}); err != nil {
		t.Fatal(err)
	}
	got, _ := m.st.LinkByID(ctx, l.ID)
	if got.Status != paylink.StatusOpen || got.IdempotencyKey != l.IdempotencyKey {
		t.Fatalf("after Retry: %s, key %q (was %q)", got.Status, got.IdempotencyKey, l.IdempotencyKey)
	}
	if err := m.minter.Retry(ctx, l.ID, m.user, db.AuditEntry{Action: "link.retry"}); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("retrying an open link: %v, want ErrConflict", err)
	}
}
