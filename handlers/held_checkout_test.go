package handlers_test

import (
	"context"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// TestCheckoutOnAnUnknownHostIsHeldThenApproved: StableMint creates the
// session but puts its page on a host paylinks does not know. The session
// is recorded, nobody is offered the URL, admins see it and approve the
// host, and the link opens without a second StableMint session; the next
// link on that host opens at once.
func TestCheckoutOnAnUnknownHostIsHeldThenApproved(t *testing.T) {
	partner, sbk := testKeys(t)
	sb, err := sandbox.New(sandbox.Config{Addr: "127.0.0.1:0", APIKey: "test", APISecret: "secret", PartnerPublicKey: &partner.PublicKey,
		PrivateKey: sbk, PublicURL: "https://pay.unknown-psp.example", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	u, _ := url.Parse(sb.URL())
	client, err := stablemint.New(stablemint.Config{BaseURL: sb.URL(), APIKey: "test", APISecret: "secret", PrivateKey: partner,
		CheckoutHosts: []string{u.Host}, WebhookKeys: []*rsa.PublicKey{&sbk.PublicKey}, MaxAttempts: 1,
		CallTimeout: 5 * time.Second, BreakerThreshold: 1000, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(_ *app.Config, p *app.Parts) { p.StableMint = client })
	e.addUser("fin@example.com", paylink.RoleFinance)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	fin := e.browser()
	fin.login("fin@example.com")
	created := fin.post("/links", fin.fillLinkForm(validLink()))
	if created.status() != http.StatusSeeOther {
		t.Fatalf("create: %d", created.status())
	}
	page := fin.get(created.location())
	if page.find("[data-testid=link-held]").Length() != 1 || page.find("[data-testid=checkout]").Length() != 0 ||
		page.find("[data-testid=retry]").Length() != 0 || page.find("[data-testid=held-url]").Length() != 0 ||
		page.find("[data-testid=reissue]").Length() != 0 || !strings.Contains(page.body, "held for review") ||
		page.find("[data-testid=email-compose]").Length() != 0 {
		t.Fatalf("finance sees the held link wrongly:\n%s", page.find("main").Text())
	}
	id := linkIDFrom(t, created.location())
	l, _ := e.store.LinkByID(context.Background(), id)
	if l.Status != paylink.StatusError || l.SMReference == "" || l.CheckoutURL != "" || l.HeldCheckoutHost != "pay.unknown-psp.example" {
		t.Fatalf("held link: %s ref %q url %q host %q", l.Status, l.SMReference, l.CheckoutURL, l.HeldCheckoutHost)
	}

	// Re-issuing it would make a second session: refused by the server too.
	if p := fin.get("/links/new?from=" + strconv.FormatInt(id, 10)); p.status() != http.StatusConflict {
		t.Fatalf("re-issue form for a held link: %d, want 409", p.status())
	}
	admin := e.browser()
	admin.login("admin@example.com")
	ap := admin.get(created.location())
	if got := ap.find("[data-testid=held-url]").Text(); got != l.HeldCheckoutURL || !strings.HasPrefix(got, "https://pay.unknown-psp.example/") {
		t.Fatalf("admin sees held URL %q, want %q", got, l.HeldCheckoutURL)
	}
	if p := fin.post(created.location()+"/approve-checkout-host", url.Values{"_csrf": {fin.csrf(created.location())}}); p.status() != http.StatusForbidden {
		t.Fatalf("finance approved a host: %d", p.status())
	}
	approved := admin.post(created.location()+"/approve-checkout-host", url.Values{"_csrf": {admin.csrf(created.location())}})
	if approved.status() != http.StatusSeeOther {
		t.Fatalf("approve: %d", approved.status())
	}
	l, _ = e.store.LinkByID(context.Background(), id)
	if l.Status != paylink.StatusOpen || l.CheckoutURL == "" || l.HeldCheckoutHost != "" {
		t.Fatalf("after approval: %s url %q held %q", l.Status, l.CheckoutURL, l.HeldCheckoutHost)
	}
	if n := len(sb.Sessions()); n != 1 {
		t.Fatalf("%d StableMint sessions, want 1: approving must not ask again", n)
	}
	entries, _ := e.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "checkout_host.approve", "checkout-host:pay.unknown-psp.example") {
		t.Error("the approval was not audited")
	}
	if admin.get("/admin/settings").find("[data-testid=approved-hosts]").Text() == "" {
		t.Error("the approved host is not listed in Settings")
	}
	// The next link on that host opens at once.
	f := validLink()
	f.Set("websiteReference", "INV-2026-0043")
	next := fin.post("/links", fin.fillLinkForm(f))
	if l2, _ := e.store.LinkByID(context.Background(), linkIDFrom(t, next.location())); l2.Status != paylink.StatusOpen {
		t.Fatalf("a link on the approved host: %s", l2.Status)
	}
}
