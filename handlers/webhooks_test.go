package handlers_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// whEnv is the full application with webhooks on: a sandbox of one payload
// family, whose webhooks are posted to this server's /webhooks/stablemint
// and verified with the sandbox's key, and a group-committing ingester.
type whEnv struct {
	*env
	sb   *sandbox.Server
	user db.User
}

// newWebhookEnv starts it; family is "v2", "partner" or "legacy".
func newWebhookEnv(t *testing.T, family string, opts ...envOption) *whEnv {
	t.Helper()
	partner, sbk := testKeys(t)
	sb, err := sandbox.New(sandbox.Config{
		Addr: "127.0.0.1:0", APIKey: "test", APISecret: "secret", PartnerPublicKey: &partner.PublicKey,
		PrivateKey: sbk, TimeScale: 0.0001, Family: family, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	u, _ := url.Parse(sb.URL())
	client, err := stablemint.New(stablemint.Config{
		BaseURL: sb.URL(), APIKey: "test", APISecret: "secret", PrivateKey: partner,
		CheckoutHosts: []string{u.Host}, MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
		CallTimeout: 5 * time.Second, BreakerThreshold: 1000, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := stablemint.NewVerifier([]*rsa.PublicKey{&sbk.PublicKey}, 4*time.Hour, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &whEnv{sb: sb}
	webhooks := func(_ *app.Config, p *app.Parts) { p.StableMint, p.Verifier = client, verifier }
	w.env = newEnv(t, append([]envOption{webhooks}, opts...)...)
	sb.SetWebhookURL(w.srv.URL + "/webhooks/stablemint")
	w.user = w.addUser("maker@example.com", paylink.RoleFinance)
	return w
}

// newLink commits a 9.50 EUR link and mints it at the sandbox: it is open.
func (w *whEnv) newLink(t *testing.T, website string) db.Link {
	t.Helper()
	ctx := context.Background()
	l, _, err := w.store.CreateLink(ctx, db.NewLink{
		IdempotencyKey: uuid.NewString(), CustomerID: "CUST-7", CustomerEmail: "ada@example.com", Country: "DE",
		AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: website,
		SuccessURL: "https://shop.example/ok", SupportURL: "https://shop.example/help", ExitURL: "https://shop.example/exit",
		ErrorURL: "https://shop.example/err", CreatedBy: w.user.ID, AllowDuplicate: true,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.minter.Mint(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	l = w.link(t, l.ID)
	if l.Status != paylink.StatusOpen {
		t.Fatalf("link %d is %s after minting: %s", l.ID, l.Status, l.LastError)
	}
	return l
}

func (w *whEnv) link(t *testing.T, id int64) db.Link {
	t.Helper()
	l, err := w.store.LinkByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (w *whEnv) waitStatus(t *testing.T, id int64, want paylink.Status) db.Link {
	t.Helper()
	var l db.Link
	testkit.WaitFor(t, "link "+strconv.FormatInt(id, 10)+" to be "+string(want), func() bool {
		l = w.link(t, id)
		return l.Status == want
	})
	return l
}

// eventLines is the link's timeline lines that came from webhooks.
func (w *whEnv) eventLines(t *testing.T, id int64) []db.LinkEvent {
	t.Helper()
	all, err := w.store.LinkTimeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.LinkEvent
	for _, e := range all {
		if e.Kind == "webhook" || e.Kind == "status" {
			out = append(out, e)
		}
	}
	return out
}

// sessionDeliveries is the sandbox's delivery attempts for one session.
func (w *whEnv) sessionDeliveries(ref string) []sandbox.Delivery {
	var out []sandbox.Delivery
	for _, d := range w.sb.Deliveries() {
		if d.SessionRef == ref {
			out = append(out, d)
		}
	}
	return out
}

// indexOf is the position of the first line containing s, or -1.
func indexOf(lines []db.LinkEvent, s string) int {
	for i, l := range lines {
		if strings.Contains(l.Message, s) {
			return i
		}
	}
	return -1
}

func TestPayMakesTheLinkPaidThenSettled(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-PAY")
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	got := w.waitStatus(t, l.ID, paylink.StatusSettled)
	testkit.WaitFor(t, "five timeline lines", func() bool { return len(w.eventLines(t, l.ID)) == 5 })
	lines := w.eventLines(t, l.ID)
	paid, settled := indexOf(lines, "→ paid"), indexOf(lines, "paid → settled")
	if paid < 0 || settled < paid {
		t.Fatalf("timeline does not go paid then settled: %+v", lines)
	}
	if got.SMSessionID != l.SMReference || !strings.HasPrefix(got.DepositReference, "DEP") || got.NeedsReview || got.PaidAfterExpiry {
		t.Errorf("link after paying: session %q deposit %q review %v expiry %v", got.SMSessionID, got.DepositReference, got.NeedsReview, got.PaidAfterExpiry)
	}
	for _, d := range w.sessionDeliveries(l.SMReference) {
		if !d.Acknowledged || d.Status != http.StatusOK {
			t.Errorf("delivery %s of %s: status %d, acknowledged %v", d.DeliveryID, d.EventType, d.Status, d.Acknowledged)
		}
	}
	// The link page shows it, and a viewer sees the same.
	w.addUser("viewer@example.com", paylink.RoleViewer)
	b := w.browser()
	b.login("viewer@example.com")
	p := b.get("/links/" + strconv.FormatInt(l.ID, 10))
	if s := p.find("[data-testid=link-status]").First().Text(); s != "settled" {
		t.Errorf("page status %q", s)
	}
	if n := p.find(`[data-testid=timeline-entry][data-kind=status]`).Length(); n != 3 {
		t.Errorf("%d status lines on the page, want 3 (processing, paid, settled)", n)
	}
}

func TestFailMakesTheLinkFailed(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-FAIL")
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomeFail); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, l.ID, paylink.StatusFailed)
	testkit.WaitFor(t, "two timeline lines", func() bool { return len(w.eventLines(t, l.ID)) == 2 })
	// A late success-path event cannot revive it.
	if err := w.sb.SendInOrder(l.SMReference, []string{"partner.customer.deposit.submitted"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the late event", func() bool { return len(w.eventLines(t, l.ID)) == 3 })
	if got := w.link(t, l.ID); got.Status != paylink.StatusFailed {
		t.Fatalf("status %s after a late event, want failed", got.Status)
	}
}

func TestAbandonedLinkStaysOpenUntilTheSweeperExpiresIt(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-GONE")
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomeAbandon); err != nil {
		t.Fatal(err)
	}
	if n := len(w.sessionDeliveries(l.SMReference)); n != 0 {
		t.Fatalf("abandoning sent %d webhooks", n)
	}
	sweeper := links.NewExpirySweeper(w.store, w.clock.Now, 5*time.Millisecond, testLogger())
	running := jobs.Start(context.Background(), testLogger(), sweeper.Job())
	stopped := false
	defer func() {
		if !stopped {
			running.Stop()
		}
	}()

	// Before expiry the sweeper leaves it open.
	w.clock.Advance(l.ExpiresAt.Add(-time.Second).Sub(w.clock.Now()))
	if n, err := sweeper.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d, %v", n, err)
	}
	if got := w.link(t, l.ID); got.Status != paylink.StatusOpen {
		t.Fatalf("status %s before expiry", got.Status)
	}
	w.clock.Advance(time.Second)
	w.waitStatus(t, l.ID, paylink.StatusExpired)
	tl, _ := w.store.LinkTimeline(context.Background(), l.ID)
	if last := tl[len(tl)-1]; last.Kind != "expired" {
		t.Errorf("last timeline line %+v, want the expiry", last)
	}
	running.Stop() // returns once the sweeper's goroutine has ended
	stopped = true
}

func TestPaymentAfterExpiryIsPaidAndFlagged(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-LATE")
	if err := w.sb.ExpireSession(l.SMReference); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(l.ExpiresAt.Add(time.Minute).Sub(w.clock.Now()))
	if n, err := links.NewExpirySweeper(w.store, w.clock.Now, 0, nil).Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if err := w.sb.SendInOrder(l.SMReference, []string{"partner.customer.deposit.created", "partner.customer.deposit.accepted"}); err != nil {
		t.Fatal(err)
	}
	got := w.waitStatus(t, l.ID, paylink.StatusPaid)
	if !got.PaidAfterExpiry {
		t.Fatal("paid after expiry but not flagged")
	}
	testkit.WaitFor(t, "both events", func() bool { return len(w.eventLines(t, l.ID)) == 2 })
	lines := w.eventLines(t, l.ID)
	if !strings.Contains(lines[0].Message, "expired") || !strings.Contains(lines[1].Message, "expired → paid") {
		t.Errorf("timeline %+v", lines)
	}
	entries, _ := w.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "webhook.paid_after_expiry", "link:"+strconv.FormatInt(l.ID, 10)) {
		t.Error("payment after expiry not audited")
	}
	b := w.browser()
	b.login("maker@example.com")
	if b.get("/links/"+strconv.FormatInt(l.ID, 10)).find("[data-testid=flag-paid-after-expiry]").Length() != 1 {
		t.Error("the link page does not show the flag")
	}
}

func TestEveryPayloadFamilyDrivesTheStatus(t *testing.T) {
	for _, c := range []struct {
		family, outcome string
		want            paylink.Status
		events          int
	}{
		{sandbox.FamilyPartner, sandbox.OutcomePay, paylink.StatusPaid, 4},
		{sandbox.FamilyPartner, sandbox.OutcomeFail, paylink.StatusFailed, 2},
		{sandbox.FamilyLegacy, sandbox.OutcomePay, paylink.StatusPaid, 1},
		{sandbox.FamilyLegacy, sandbox.OutcomeFail, paylink.StatusFailed, 1},
	} {
		t.Run(c.family+"/"+c.outcome, func(t *testing.T) {
			w := newWebhookEnv(t, c.family)
			l := w.newLink(t, "INV-"+c.family)
			if err := w.sb.Outcome(l.SMReference, c.outcome); err != nil {
				t.Fatal(err)
			}
			got := w.waitStatus(t, l.ID, c.want)
			testkit.WaitFor(t, "every event", func() bool { return len(w.eventLines(t, l.ID)) == c.events })
			if got.DepositReference == "" || got.SMSessionID != l.SMReference {
				t.Errorf("identifiers not stored: session %q deposit %q", got.SMSessionID, got.DepositReference)
			}
			page, _ := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{})
			for _, r := range page.Rows {
				if r.Family != c.family {
					t.Errorf("delivery %d stored as family %q", r.ID, r.Family)
				}
			}
		})
	}
}

// post sends body to the webhook endpoint with the given headers.
func postWebhook(t testing.TB, base string, body []byte, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stablemint", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signed returns the signature headers of body, signed by key at ts.
func signed(t testing.TB, key *rsa.PrivateKey, ts time.Time, body []byte) http.Header {
	t.Helper()
	stamp := stablemint.FormatWebhookTimestamp(ts)
	sig, err := stablemint.SignWebhook(key, stamp, body)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{stablemint.HeaderWebhookTimestamp: {stamp}, stablemint.HeaderWebhookSignature: {sig}}
}

// v2Body is a V2 envelope as StableMint sends it, for link l.
func v2Body(eventID, typ string, l db.Link, amount string) []byte {
	b, _ := json.Marshal(map[string]any{"eventId": eventID, "data": map[string]any{
		"eventType": typ, "timestamp": "2026-11-25T10:00:00Z", "sessionId": l.SMReference, "reference": "DEP" + l.SMReference,
		"idempotencyKey": l.IdempotencyKey, "websiteReference": l.WebsiteReference, "customFields": nil,
		"amount": json.Number(amount), "currency": "EUR", "customerId": l.CustomerID, "customerEmail": l.CustomerEmail,
		"endToEndId": nil, "paymentMethod": "BANK_TRANSFER", "paymentCountryCode": "DE",
	}})
	return b
}

func TestRefusedDeliveriesAre401AndRecorded(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-SIG")
	partner, sbk := testKeys(t)
	body := v2Body(uuid.NewString(), "partner.customer.deposit.accepted", l, "9.50")
	now := time.Now()
	good := signed(t, sbk, now, body)
	cases := []struct {
		name, reason string
		body         []byte
		header       http.Header
	}{
		{"no headers", stablemint.ReasonMissingSignature, body, http.Header{}},
		{"body changed after signing", stablemint.ReasonBadSignature, append(bytes.Clone(body), ' '), good},
		{"signed by another key", stablemint.ReasonBadSignature, body, signed(t, partner, now, body)},
		{"signature not base64", stablemint.ReasonMalformedSignature, body, http.Header{
			stablemint.HeaderWebhookTimestamp: good[stablemint.HeaderWebhookTimestamp], stablemint.HeaderWebhookSignature: {"not base64!"}}},
		{"timestamp changed after signing", stablemint.ReasonBadSignature, body, http.Header{
			stablemint.HeaderWebhookTimestamp: {stablemint.FormatWebhookTimestamp(now.Add(time.Second))}, stablemint.HeaderWebhookSignature: good[stablemint.HeaderWebhookSignature]}},
		{"stale timestamp", stablemint.ReasonOutsideTolerance, body, signed(t, sbk, now.Add(-4*time.Hour-time.Minute), body)},
		{"timestamp from the future", stablemint.ReasonOutsideTolerance, body, signed(t, sbk, now.Add(6*time.Minute), body)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, answer := postWebhook(t, w.srv.URL, c.body, c.header)
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(answer, c.reason) {
				t.Fatalf("status %d body %q, want 401 without the reason", resp.StatusCode, answer)
			}
			page, err := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{Outcome: db.DeliveryRejected, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(c.body)
			r := page.Rows[0]
			if r.Reason != c.reason || r.BodySHA256 != hex.EncodeToString(sum[:]) || r.BodySize != len(c.body) || r.IP != "127.0.0.1" {
				t.Fatalf("recorded %+v, want reason %q and the body's hash", r, c.reason)
			}
		})
	}
	if got := w.link(t, l.ID); got.Status != paylink.StatusOpen {
		t.Fatalf("a refused delivery changed the link to %s", got.Status)
	}
	if p, _ := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{Outcome: string(paylink.OutcomeApplied)}); len(p.Rows) != 0 {
		t.Fatal("a refused delivery was applied")
	}
	// The genuine delivery still goes through, once, even on a cross-site
	// looking request: the webhook has no CSRF check.
	good.Set("Sec-Fetch-Site", "cross-site")
	if resp, _ := postWebhook(t, w.srv.URL, body, good); resp.StatusCode != http.StatusOK {
		t.Fatalf("genuine delivery: %d", resp.StatusCode)
	}
	if got := w.link(t, l.ID); got.Status != paylink.StatusPaid {
		t.Fatalf("status %s, want paid", got.Status)
	}
}

func TestACorruptedSignatureIsRetriedByTheSandbox(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyLegacy)
	l := w.newLink(t, "INV-RETRY")
	w.sb.CorruptNextSignature()
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, l.ID, paylink.StatusPaid)
	// The link turns paid at the commit, just before the sandbox gets the
	// answer and logs the retry.
	testkit.WaitFor(t, "the sandbox to log both deliveries", func() bool { return len(w.sessionDeliveries(l.SMReference)) >= 2 })
	ds := w.sessionDeliveries(l.SMReference)
	if len(ds) != 2 || ds[0].Status != http.StatusUnauthorized || !ds[0].CorruptSignature || ds[1].Status != http.StatusOK {
		t.Fatalf("deliveries %+v, want a refused corrupt one then its accepted retry", ds)
	}
}

func TestBodiesOver256KiBAre413(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	_, sbk := testKeys(t)
	pad := func(n int) []byte { // a JSON object of exactly n bytes
		b := []byte(`{"eventId":"big-` + strconv.Itoa(n) + `","data":{"eventType":"mystery"}}`)
		return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
	}
	limit := 256 << 10
	exact := pad(limit)
	if resp, _ := postWebhook(t, w.srv.URL, exact, signed(t, sbk, time.Now(), exact)); resp.StatusCode != http.StatusOK {
		t.Fatalf("exactly 256 KiB: %d, want 200", resp.StatusCode)
	}
	over := pad(limit + 1)
	if resp, _ := postWebhook(t, w.srv.URL, over, signed(t, sbk, time.Now(), over)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("256 KiB + 1: %d, want 413", resp.StatusCode)
	}
	// Without a Content-Length the limit holds while reading.
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/webhooks/stablemint", io.MultiReader(bytes.NewReader(over)))
	req.ContentLength = -1
	for k, v := range signed(t, sbk, time.Now(), over) {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 256 KiB + 1: %d, want 413", resp.StatusCode)
	}
}

func TestVerifiedOddDeliveriesAreAcknowledgedAndKept(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-ODD")
	_, sbk := testKeys(t)
	stranger := db.Link{SMReference: "HS-NOBODY", IdempotencyKey: "not-ours", WebsiteReference: "NOT-OURS"}
	cases := []struct {
		name    string
		outcome paylink.Outcome
		body    []byte
		linked  bool
	}{
		{"unknown type", paylink.OutcomeNoChange, v2Body(uuid.NewString(), "transaction.status.changed", l, "9.50"), true},
		{"matches no link", paylink.OutcomeUnmatched, v2Body(uuid.NewString(), "partner.customer.deposit.accepted", stranger, "9.50"), false},
		{"not JSON", paylink.OutcomeUnparsable, []byte("<xml>surprise</xml>"), false},
		{"amount differs", paylink.OutcomeNeedsReview, v2Body(uuid.NewString(), "partner.customer.deposit.accepted", l, "9.05"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := postWebhook(t, w.srv.URL, c.body, signed(t, sbk, time.Now(), c.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			page, _ := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{Limit: 1})
			r := page.Rows[0]
			if r.Outcome != c.outcome || (r.LinkID == l.ID) != c.linked {
				t.Fatalf("stored %+v, want outcome %s", r, c.outcome)
			}
			e, err := w.store.WebhookEventByID(context.Background(), r.EventID)
			if err != nil || !bytes.Equal(e.Body, c.body) {
				t.Fatalf("stored body %q, %v", e.Body, err)
			}
		})
	}
	got := w.link(t, l.ID)
	if got.Status != paylink.StatusOpen || !got.NeedsReview {
		t.Fatalf("link %s review=%v, want open and flagged", got.Status, got.NeedsReview)
	}
}

func TestDuplicateDeliveriesAreAcknowledgedOnce(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-DUP")
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, l.ID, paylink.StatusSettled)
	testkit.WaitFor(t, "five lines", func() bool { return len(w.eventLines(t, l.ID)) == 5 })
	evs := w.sb.Events()
	accepted := ""
	for _, e := range evs {
		if e.Type == "partner.customer.deposit.accepted" {
			accepted = e.ID
		}
	}
	if err := w.sb.Duplicate(accepted); err != nil { // same bytes, same headers
		t.Fatal(err)
	}
	if err := w.sb.Redeliver(accepted); err != nil { // same bytes, fresh headers
		t.Fatal(err)
	}
	testkit.WaitFor(t, "both replays answered 200", func() bool {
		n := 0
		for _, d := range w.sessionDeliveries(l.SMReference) {
			if d.EventID == accepted && d.Acknowledged {
				n++
			}
		}
		return n == 3
	})
	if n := len(w.eventLines(t, l.ID)); n != 5 {
		t.Fatalf("%d timeline lines after replays, want 5", n)
	}
	page, _ := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{Outcome: db.DeliveryDuplicate})
	if len(page.Rows) != 2 {
		t.Fatalf("%d duplicate deliveries recorded, want 2", len(page.Rows))
	}
}

func TestStorageFailureIs5xxNever2xx(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-DISK")
	raw := openRaw(t, w.store)
	if _, err := raw.Exec(`CREATE TRIGGER full BEFORE INSERT ON webhook_deliveries WHEN NEW.kind = 'event' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	_, sbk := testKeys(t)
	body := v2Body(uuid.NewString(), "partner.customer.deposit.accepted", l, "9.50")
	resp, _ := postWebhook(t, w.srv.URL, body, signed(t, sbk, time.Now(), body))
	if resp.StatusCode < 500 {
		t.Fatalf("status %d while storage fails, want 5xx", resp.StatusCode)
	}
	if got := w.link(t, l.ID); got.Status != paylink.StatusOpen {
		t.Fatalf("status %s", got.Status)
	}
	// StableMint's retry succeeds once storage recovers.
	if _, err := raw.Exec(`DROP TRIGGER full`); err != nil {
		t.Fatal(err)
	}
	if resp, _ := postWebhook(t, w.srv.URL, body, signed(t, sbk, time.Now(), body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	// A closed database is a storage failure too.
	w.store.Close()
	body = v2Body(uuid.NewString(), "partner.customer.deposit.completed", l, "9.50")
	if resp, _ := postWebhook(t, w.srv.URL, body, signed(t, sbk, time.Now(), body)); resp.StatusCode < 500 {
		t.Fatalf("closed store: %d, want 5xx", resp.StatusCode)
	}
}

func TestConcurrentDeliveriesAreAllStoredOnce(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2, func(c *app.Config, _ *app.Parts) { c.WebhookBurst = 10000 })
	_, sbk := testKeys(t)
	types := []string{"created", "initiated", "submitted", "accepted", "completed"}
	type delivery struct {
		body   []byte
		header http.Header
	}
	// events builds each success event of l once, signed once.
	events := func(l db.Link) []delivery {
		var out []delivery
		for _, typ := range types {
			body := v2Body(uuid.NewString(), "partner.customer.deposit."+typ, l, "9.50")
			out = append(out, delivery{body, signed(t, sbk, time.Now(), body)})
		}
		return out
	}
	hot := w.newLink(t, "INV-HOT")
	var hotDeliveries []delivery
	for _, d := range events(hot) {
		for range 10 {
			hotDeliveries = append(hotDeliveries, d)
		}
	}
	rand.Shuffle(len(hotDeliveries), func(i, j int) { hotDeliveries[i], hotDeliveries[j] = hotDeliveries[j], hotDeliveries[i] })
	others := make([]db.Link, 8)
	otherDeliveries := make([][]delivery, 8)
	for i := range others {
		others[i] = w.newLink(t, "INV-COLD-"+strconv.Itoa(i))
		for _, d := range events(others[i]) {
			otherDeliveries[i] = append(otherDeliveries[i], d, d) // each twice
		}
	}

	var ok, failed atomic.Int64
	send := func(d delivery) {
		resp, body := postWebhook(t, w.srv.URL, d.body, d.header)
		if resp.StatusCode == http.StatusOK {
			ok.Add(1)
		} else {
			failed.Add(1)
			t.Errorf("delivery answered %d: %s", resp.StatusCode, body)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, d := range hotDeliveries { // 50 at once for one link
		wg.Go(func() { <-start; send(d) })
	}
	for i := range others { // 8 senders, one link each, one delivery at a time
		wg.Go(func() {
			<-start
			for _, d := range otherDeliveries[i] {
				send(d)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() != 50+8*10 {
		t.Fatalf("%d acknowledged, %d failed; want all %d acknowledged", ok.Load(), failed.Load(), 50+8*10)
	}
	for _, l := range append([]db.Link{hot}, others...) {
		if got := w.link(t, l.ID); got.Status != paylink.StatusSettled {
			t.Errorf("link %d: %s, want settled", l.ID, got.Status)
		}
		if n := len(w.eventLines(t, l.ID)); n != 5 {
			t.Errorf("link %d: %d timeline lines, want 5 (one per event)", l.ID, n)
		}
	}
	var first, dups int
	for before := int64(0); ; {
		page, err := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{Before: before, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			switch r.Kind {
			case db.DeliveryEvent:
				first++
			case db.DeliveryDuplicate:
				dups++
			}
		}
		if !page.HasMore {
			break
		}
		before = page.Rows[len(page.Rows)-1].ID
	}
	if first != 45 || dups != 50+80-45 {
		t.Fatalf("%d events and %d duplicates stored, want 45 and %d", first, dups, 50+80-45)
	}
}

func TestWebhooksOffWithoutAVerifier(t *testing.T) {
	e := newEnv(t)
	_, sbk := testKeys(t)
	body := []byte(`{"eventId":"x","data":{"eventType":"mystery"}}`)
	if resp, _ := postWebhook(t, e.srv.URL, body, signed(t, sbk, time.Now(), body)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 so StableMint retries once configured", resp.StatusCode)
	}
}

// openRaw opens a second writer on the test database, for what the store
// cannot do: make a table fail.
func openRaw(t *testing.T, st *db.Store) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", db.DSN(st.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
