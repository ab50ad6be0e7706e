package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/paylink"
)

// hookNames resolves the test's public name; anything else is unknown.
type hookNames struct{}

func (hookNames) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "hooks.example.com" {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	if host == "inside.example.com" {
		return []netip.Addr{netip.MustParseAddr("10.0.0.8")}, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

func withOutbound(sandbox bool, maxAge time.Duration) envOption {
	return func(c *app.Config, p *app.Parts) {
		c.SandboxMode = sandbox
		c.Outbound.Guard = &outbound.Guard{Sandbox: sandbox, Resolver: hookNames{}}
		c.Outbound.MaxAge = maxAge
	}
}

// An admin registers an endpoint: an internal address is refused with a
// message beside the field; a public one is saved, audited, and its secret
// shown on that response only. Others cannot open the pages.
func TestWebhookEndpointRegistration(t *testing.T) {
	e := newEnv(t, withOutbound(false, 0))
	e.addUser("admin@acme.example", paylink.RoleAdmin)
	e.addUser("fin@acme.example", paylink.RoleFinance)
	b := e.browser()
	b.login("admin@acme.example")

	for _, bad := range []string{"https://127.0.0.1/hook", "https://[::1]/hook", "https://10.0.0.1/hook",
		"https://169.254.169.254/latest/meta-data", "https://inside.example.com/hook", "http://hooks.example.com/hook"} {
		p := b.submit("/admin/webhook-endpoints", "/admin/webhook-endpoints", url.Values{"url": {bad}, "types": {"link.paid"}})
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.find(`[data-field=url]`).Text(), "paylinks refuses this address") {
			t.Errorf("%s: status %d, error %q", bad, p.status(), p.find(`[data-field=url]`).Text())
		}
	}
	p := b.submit("/admin/webhook-endpoints", "/admin/webhook-endpoints", url.Values{"url": {"https://hooks.example.com/paylinks"},
		"description": {"ERP"}, "types": {"link.paid", "link.settled"}})
	if p.status() != http.StatusCreated {
		t.Fatalf("create: status %d", p.status())
	}
	secret := p.find("[data-testid=secret]").Text()
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret shown is %q", secret)
	}
	if _, err := outbound.Sign([]string{secret}, "msg_1", time.Now(), nil); err != nil {
		t.Errorf("the secret shown is not usable: %v", err)
	}
	list := b.get("/admin/webhook-endpoints")
	if strings.Contains(list.body, secret) || list.find("[data-testid=endpoint-row]").Length() != 1 {
		t.Errorf("the list shows the secret again, or %d rows", list.find("[data-testid=endpoint-row]").Length())
	}
	eps, _ := e.store.OutboundEndpoints(context.Background())
	if len(eps) != 1 || strings.Join(eps[0].Types, " ") != "link.paid link.settled" {
		t.Fatalf("stored %+v", eps)
	}
	view := b.get(fmt.Sprintf("/admin/webhook-endpoints/%d", eps[0].ID))
	if strings.Contains(view.body, secret) {
		t.Error("the endpoint page shows the secret")
	}
	audit, _ := e.store.ListAudit(context.Background(), 20)
	var found bool
	for _, a := range audit {
		found = found || a.Action == "webhook_endpoint.create"
		if strings.Contains(a.Details, secret) {
			t.Errorf("the audit log holds the secret: %s", a.Details)
		}
	}
	if !found {
		t.Error("the creation is not audited")
	}

	// An admin allows an internal host; it registers then.
	p = b.submit("/admin/webhook-endpoints", "/admin/webhook-endpoints/hosts", url.Values{"hosts": {"inside.example.com"}})
	if p.status() != http.StatusSeeOther {
		t.Fatalf("save hosts: %d", p.status())
	}
	p = b.submit("/admin/webhook-endpoints", "/admin/webhook-endpoints", url.Values{"url": {"https://inside.example.com/hook"}, "types": {"link.paid"}})
	if p.status() != http.StatusCreated {
		t.Errorf("an allowed internal host: status %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}

	fin := e.browser()
	fin.login("fin@acme.example")
	for _, path := range []string{"/admin/webhook-endpoints", fmt.Sprintf("/admin/webhook-endpoints/%d", eps[0].ID)} {
		if got := fin.get(path).status(); got != http.StatusForbidden {
			t.Errorf("finance GET %s: %d, want 403", path, got)
		}
	}
	tok := fin.csrf("/links")
	if got := fin.post(fmt.Sprintf("/admin/webhook-endpoints/%d/replay", eps[0].ID), url.Values{"_csrf": {tok}, "confirm": {"1"}}).status(); got != http.StatusForbidden {
		t.Errorf("finance replay: %d, want 403", got)
	}
}

// hookReceiver records deliveries; fail makes it answer 500.
type hookReceiver struct {
	mu   sync.Mutex
	got  []map[string]any
	ids  []string
	fail bool
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, m)
	h.ids = append(h.ids, r.Header.Get("webhook-id"))
	if h.fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Write([]byte("ok"))
}

func (h *hookReceiver) snapshot() ([]map[string]any, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got...), append([]string(nil), h.ids...)
}

func (e *env) openLink(t *testing.T, by int64) db.Link {
	t.Helper()
	ctx := context.Background()
	l, _, err := e.store.CreateLink(ctx, db.NewLink{IdempotencyKey: "idem-" + t.Name(), CustomerID: "C-1", CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: 1250, AmountText: "12.50", Currency: "EUR", WebsiteReference: "INV-1", SuccessURL: "https://x/s",
		SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: by, AllowDuplicate: true}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CompleteLinkCreation(ctx, l.ID, "SM-1", "https://checkout.example/SM-1", e.clock.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) applyEvent(t *testing.T, l db.Link, key string, effect paylink.Effect) {
	t.Helper()
	if _, err := e.store.IngestWebhooks(context.Background(), []db.WebhookDelivery{{IP: "192.0.2.1", BodySHA256: key, BodySize: 2,
		Event: db.WebhookEventData{Key: key, Parsed: true, Family: "v2", Type: "deposit." + string(effect), Effect: effect,
			IdempotencyKey: l.IdempotencyKey, AmountRaw: "12.50", Currency: "EUR", AmountMinor: 1250, AmountKnown: true, Exponent: 2,
			Body: []byte("{}")}}}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) deliver(t *testing.T) {
	t.Helper()
	if _, err := e.app.Outbound.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// In sandbox mode: a test event, the delivery log, Resend (same
// webhook-id), an endpoint disabled for failing, then a bulk replay after
// a dry-run count, which sends the link once as it is now, marked replay,
// under a new webhook-id.
func TestWebhookLogResendAndReplay(t *testing.T) {
	e := newEnv(t, withOutbound(true, time.Hour))
	admin := e.addUser("admin@acme.example", paylink.RoleAdmin)
	b := e.browser()
	b.login("admin@acme.example")
	rc := &hookReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	p := b.submit("/admin/webhook-endpoints", "/admin/webhook-endpoints", url.Values{"url": {srv.URL + "/hook"},
		"types": {"link.opened", "link.processing", "link.paid"}})
	if p.status() != http.StatusCreated {
		t.Fatalf("a loopback receiver in sandbox mode: %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}
	eps, _ := e.store.OutboundEndpoints(context.Background())
	page := fmt.Sprintf("/admin/webhook-endpoints/%d", eps[0].ID)

	if p := b.submit(page, page+"/test", url.Values{}); p.status() != http.StatusSeeOther {
		t.Fatalf("test event: %d", p.status())
	}
	e.deliver(t)
	got, ids := rc.snapshot()
	if len(got) != 1 || got[0]["type"] != "webhook.test" {
		t.Fatalf("the receiver got %v", got)
	}
	log := b.get(page)
	row := log.find("[data-testid=delivery-row]")
	if row.Length() != 1 || row.AttrOr("data-status", "") != "delivered" || !strings.Contains(row.Find("[data-testid=attempt]").Text(), "HTTP 200") {
		t.Fatalf("the log shows %d rows: %s", row.Length(), row.Text())
	}

	// Resend: the same message again.
	resend, _ := row.Find("form").Attr("action")
	if p := b.submit(page, resend, url.Values{}); p.status() != http.StatusSeeOther {
		t.Fatalf("resend: %d", p.status())
	}
	e.deliver(t)
	got, ids2 := rc.snapshot()
	if len(got) != 2 || ids2[1] != ids[0] {
		t.Fatalf("the resend carried %v, want the first webhook-id %s", ids2, ids[0])
	}

	// The receiver fails for an hour: the endpoint is disabled, the
	// link's messages failed.
	rc.mu.Lock()
	rc.fail = true
	rc.mu.Unlock()
	l := e.openLink(t, admin.ID)
	e.applyEvent(t, l, "ev-1", paylink.EffectProcessing)
	for range 20 {
		e.deliver(t)
		e.clock.Advance(5 * time.Minute)
	}
	ep, _ := e.store.OutboundEndpointByID(context.Background(), eps[0].ID)
	if ep.Enabled {
		t.Fatal("the failing endpoint is still enabled")
	}
	if n, _ := e.store.OutboundEndpointsFailing(context.Background()); n != 1 {
		t.Errorf("failing endpoints: %d", n)
	}
	// The admins' dashboard says so until it is fixed, linking to the
	// endpoints.
	b.login("admin@acme.example") // the session went idle meanwhile
	if home := b.get("/"); !strings.Contains(home.find("[data-testid=attention]").Text(), "1 webhook endpoint was turned off") {
		t.Errorf("the dashboard's Needs attention: %q", home.find("[data-testid=attention]").Text())
	} else if href, _ := home.find("[data-testid=attention] a[href$='/admin/webhook-endpoints']").Attr("href"); href == "" {
		t.Error("the dashboard's item does not link to the webhook endpoints")
	}
	if mails, _ := e.store.StaffEmails(context.Background(), 5); len(mails) != 1 || !strings.Contains(mails[0].Subject, "Webhook endpoint disabled") ||
		mails[0].ToAddr != "admin@acme.example" {
		t.Errorf("admins were told by %+v", mails)
	}
	// Meanwhile the link was paid (no endpoint heard it: disabled).
	e.applyEvent(t, l, "ev-2", paylink.EffectPaid)

	rc.mu.Lock()
	rc.fail = false
	rc.mu.Unlock()
	if p := b.submit(page, page, url.Values{"url": {ep.URL}, "types": ep.Types, "enabled": {"on"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("enable: %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}
	day := e.clock.Now().Format(time.DateOnly)
	count := b.submit(page, page+"/replay", url.Values{"from": {day}, "to": {day}, "dry_run": {"1"}})
	if count.status() != http.StatusOK || !strings.Contains(count.find("[data-testid=replay-plan]").Text(), "2 failed deliveries match: the replay sends 1 messages (1 links") {
		t.Fatalf("dry run: %d %q", count.status(), count.find("[data-testid=replay-plan]").Text())
	}
	before, _ := rc.snapshot()
	e.deliver(t)
	if after, _ := rc.snapshot(); len(after) != len(before) {
		t.Fatal("the dry run sent something")
	}
	if p := b.submit(page, page+"/replay", url.Values{"from": {day}, "to": {day}, "confirm": {"1"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("replay: %d", p.status())
	}
	e.deliver(t)
	got, ids = rc.snapshot()
	last := got[len(got)-1]
	data, _ := last["data"].(map[string]any)
	if len(got) != len(before)+1 || last["replay"] != true || last["type"] != "link.processing" || data["status"] != "paid" {
		t.Fatalf("the replay sent %v", got[len(before):])
	}
	for _, id := range ids[:len(ids)-1] {
		if id == ids[len(ids)-1] {
			t.Error("the replay reused a webhook-id")
		}
	}
	// A second replay finds nothing left.
	again := b.submit(page, page+"/replay", url.Values{"dry_run": {"1"}})
	if !strings.Contains(again.find("[data-testid=replay-plan]").Text(), "0 failed deliveries match") {
		t.Errorf("a second dry run: %q", again.find("[data-testid=replay-plan]").Text())
	}
	// The link's own log lists its deliveries.
	linkLog := b.get(fmt.Sprintf("/admin/webhook-deliveries?link=%d", l.ID))
	if n := linkLog.find("[data-testid=delivery-row]").Length(); n != 3 {
		t.Errorf("the link's log shows %d deliveries, want 3 (opened, processing, the replay)", n)
	}
}

// A link's page leads admins to that link's delivery log, saying how many
// messages it holds; finance staff see no such link.
func TestLinkPageLeadsToItsWebhookDeliveries(t *testing.T) {
	e := newEnv(t, withOutbound(false, 0))
	admin := e.addUser("admin@acme.example", paylink.RoleAdmin)
	e.addUser("fin@acme.example", paylink.RoleFinance)
	ctx := context.Background()
	if _, err := e.store.CreateOutboundEndpoint(ctx, db.NewOutboundEndpoint{URL: "https://hooks.example.com/a", Types: []string{"link.created", "link.opened"},
		Secret: outbound.NewSecret(), CreatedBy: admin.ID}, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	l := e.openLink(t, admin.ID)
	b := e.browser()
	b.login("admin@acme.example")
	a := b.get(fmt.Sprintf("/links/%d", l.ID)).find("[data-testid=link-webhook-deliveries]")
	href, _ := a.Attr("href")
	if a.Length() != 1 || strings.TrimSpace(a.Text()) != "Webhook deliveries (2)" {
		t.Fatalf("link page: %d links, %q", a.Length(), a.Text())
	}
	log := b.get(href)
	if log.status() != http.StatusOK || log.find("[data-testid=delivery-row]").Length() != 2 {
		t.Errorf("%s: status %d, %d rows, want the link's 2 messages", href, log.status(), log.find("[data-testid=delivery-row]").Length())
	}
	fin := e.browser()
	fin.login("fin@acme.example")
	if n := fin.get(fmt.Sprintf("/links/%d", l.ID)).find("[data-testid=link-webhook-deliveries]").Length(); n != 0 {
		t.Errorf("finance sees the deliveries link")
	}
}

// TestSavingSettingsKeepsTheWebhookHosts: the hosts an admin allowed on
// internal addresses (on the webhook endpoints page) are listed in
// Settings, and saving the Settings form, which does not carry them,
// keeps them: before, it wiped the list, and an ERP's endpoint on the
// office network was refused from then on.
func TestSavingSettingsKeepsTheWebhookHosts(t *testing.T) {
	e, b := brandAdmin(t)
	if p := b.submit("/admin/webhook-endpoints", "/admin/webhook-endpoints/hosts", url.Values{"hosts": {"erp.office.internal"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("save hosts: %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}
	s := b.get("/admin/settings").find("[data-testid=settings-internal-hosts]")
	if !strings.Contains(s.Text(), "erp.office.internal") {
		t.Errorf("Settings does not list the host: %q", s.Text())
	}
	if href, _ := s.Find("a").Attr("href"); href != "/admin/webhook-endpoints#internal-hosts" {
		t.Errorf("Settings links to %q to change the list", href)
	}
	form := b.settingsFields()
	form.Set("companyName", "Saved Co")
	if p := b.postSettings(form, nil); p.status() != http.StatusSeeOther {
		t.Fatalf("save settings: %d", p.status())
	}
	if hosts, err := e.store.OutboundPrivateHosts(context.Background()); err != nil || !slices.Equal(hosts, []string{"erp.office.internal"}) {
		t.Errorf("after saving Settings the hosts are %v (%v), want erp.office.internal kept", hosts, err)
	}
	// A refused save shows them too.
	form.Set("successUrl", "not a url")
	if p := b.postSettings(form, nil); p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.find("[data-testid=settings-internal-hosts]").Text(), "erp.office.internal") {
		t.Errorf("refused save: %d, hosts %q", p.status(), p.find("[data-testid=settings-internal-hosts]").Text())
	}
}
