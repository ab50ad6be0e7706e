package outbound_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/paylink"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

var sandbox = &outbound.Guard{Sandbox: true}

// Every change a receiver hears about is queued in the transaction that
// makes it, for the endpoints subscribed to its type and enabled.
func TestChangesQueueMessagesForSubscribedEndpoints(t *testing.T) {
	f := newFixture(t, t0)
	ctx := context.Background()
	all := f.endpoint(t, "http://127.0.0.1:1/all")
	paidOnly := f.endpoint(t, "http://127.0.0.1:1/paid", "link.paid")
	off := f.endpoint(t, "http://127.0.0.1:1/off")
	if err := f.st.UpdateOutboundEndpoint(ctx, off.ID, db.OutboundEndpointChange{URL: off.URL, Types: off.Types, Enabled: false},
		db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}

	l := f.link(t)
	f.event(t, l, paylink.EffectProcessing, 1250)
	f.event(t, l, paylink.EffectPaid, 1250)
	f.event(t, l, paylink.EffectSettled, 1250)
	c := f.link(t)
	if _, err := f.st.CancelLink(ctx, c.ID, f.user.ID, "duplicate", db.AuditEntry{Action: "link.cancel"}); err != nil {
		t.Fatal(err)
	}
	x := f.link(t)
	f.clock.Advance(73 * time.Hour)
	if _, err := f.st.ExpireLinks(ctx, f.clock.Now(), 100); err != nil {
		t.Fatal(err)
	}
	r := f.link(t)
	f.event(t, r, paylink.EffectPaid, 1300) // the amount differs: an admin decides

	got := types(f.messages(t, db.OutboundFilter{EndpointID: all.ID, LinkID: l.ID}))
	want := []string{"link.created", "link.opened", "link.processing", "link.paid", "link.settled"}
	if !slices.Equal(got, want) {
		t.Errorf("the paid link queued %v, want %v", got, want)
	}
	if got := types(f.messages(t, db.OutboundFilter{EndpointID: all.ID, LinkID: r.ID})); !slices.Equal(got, []string{"link.created", "link.opened", "link.needs_attention"}) {
		t.Errorf("the link paid with another amount queued %v", got)
	}
	if got := types(f.messages(t, db.OutboundFilter{EndpointID: all.ID, LinkID: c.ID})); !slices.Equal(got, []string{"link.created", "link.opened", "link.cancelled"}) {
		t.Errorf("the cancelled link queued %v", got)
	}
	if got := types(f.messages(t, db.OutboundFilter{EndpointID: all.ID, LinkID: x.ID})); !slices.Equal(got, []string{"link.created", "link.opened", "link.expired"}) {
		t.Errorf("the expired link queued %v", got)
	}
	if got := types(f.messages(t, db.OutboundFilter{EndpointID: paidOnly.ID})); !slices.Equal(got, []string{"link.paid"}) {
		t.Errorf("the link.paid endpoint got %v", got)
	}
	if got := f.messages(t, db.OutboundFilter{EndpointID: off.ID}); len(got) != 0 {
		t.Errorf("a disabled endpoint got %d messages", len(got))
	}
}

// Emails about a link that went or failed are events too.
func TestEmailsSentAndFailedAreEvents(t *testing.T) {
	f := newFixture(t, t0)
	ctx := context.Background()
	ep := f.endpoint(t, "http://127.0.0.1:1/mail", "email.sent", "email.failed")
	l := f.link(t)
	for _, fail := range []bool{false, true} {
		if _, _, err := f.st.QueueEmail(ctx, db.NewEmail{LinkID: l.ID, FromAddr: "desk@acme.example", ToAddr: l.CustomerEmail,
			Subject: "Pay", Text: "Pay", HTML: "<p>Pay</p>", CreatedBy: f.user.ID}, db.AuditEntry{Action: "email.queue"}); err != nil {
			t.Fatal(err)
		}
		e, err := f.st.ClaimEmail(ctx, time.Minute, 8)
		if err != nil {
			t.Fatal(err)
		}
		if fail {
			err = f.st.FailEmail(ctx, e, "550 no such user")
		} else {
			err = f.st.MarkEmailSent(ctx, e, "250 ok")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	if err := f.st.UpdateOutboundEndpoint(ctx, ep.ID, db.OutboundEndpointChange{URL: srv.URL, Types: ep.Types, Enabled: true},
		db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.worker(sandbox, outbound.Options{}))
	got := rc.all()
	if len(got) != 2 || got[0].Payload.Type != "email.sent" || got[1].Payload.Type != "email.failed" {
		t.Fatalf("the receiver got %+v", got)
	}
	var data outbound.EmailData
	if err := json.Unmarshal(got[1].Payload.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Email.Status != "failed" || data.Email.Error != "550 no such user" || data.Email.To != l.CustomerEmail {
		t.Errorf("email.failed says %+v", data.Email)
	}
}

// Every delivery verifies with the Standard Webhooks reference library,
// under the endpoint's secret; after a rotation, with either secret for
// 24 hours, then with the new one only.
func TestSignaturesVerifyWithTheReferenceLibrary(t *testing.T) {
	f := newFixture(t, time.Now()) // the library checks the timestamp against the real clock
	ctx := context.Background()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep := f.endpoint(t, srv.URL)
	w := f.worker(sandbox, outbound.Options{})

	verify := func(secret string, g received, checkTime bool) error {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", g.ID)
		h.Set("webhook-timestamp", g.Timestamp)
		h.Set("webhook-signature", g.Signature)
		if checkTime {
			return wh.Verify(g.Body, h)
		}
		return wh.VerifyIgnoringTimestamp(g.Body, h)
	}

	l := f.link(t)
	f.event(t, l, paylink.EffectPaid, 1250)
	drain(t, w)
	got := rc.all()
	if len(got) != 3 {
		t.Fatalf("the receiver got %d messages, want 3 (created, opened, paid)", len(got))
	}
	for _, g := range got {
		if err := verify(ep.Secret, g, true); err != nil {
			t.Errorf("%s (%s) does not verify: %v", g.Payload.Type, g.ID, err)
		}
		if err := verify(outbound.NewSecret(), g, true); err == nil {
			t.Errorf("%s verifies under another secret", g.Payload.Type)
		}
	}
	paid := got[2]
	var data api.Link // the API's own representation, as docs/outbound-webhooks.md says
	if err := json.Unmarshal(paid.Payload.Data, &data); err != nil {
		t.Fatal(err)
	}
	if paid.Payload.Type != "link.paid" || data.Status != "paid" || data.Amount != "12.50" || data.Currency != "EUR" ||
		data.Id != l.ID || data.PaidAt == nil {
		t.Errorf("link.paid carries %s", paid.Body)
	}

	// Rotate: for 24 hours both secrets verify.
	newSecret := outbound.NewSecret()
	if err := f.st.RotateOutboundSecret(ctx, ep.ID, newSecret, outbound.RotationOverlap, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	f.event(t, l, paylink.EffectSettled, 1250)
	drain(t, w)
	got = rc.all()
	settled := got[len(got)-1]
	if settled.Payload.Type != "link.settled" {
		t.Fatalf("the last message is %s", settled.Payload.Type)
	}
	for name, s := range map[string]string{"new": newSecret, "old": ep.Secret} {
		if err := verify(s, settled, true); err != nil {
			t.Errorf("during the overlap, the %s secret does not verify: %v", name, err)
		}
	}

	// 25 hours on: only the new one.
	f.clock.Advance(25 * time.Hour)
	c := f.link(t)
	drain(t, w)
	got = rc.all()
	last := got[len(got)-1]
	if last.Payload.Type != "link.opened" || !strings.Contains(string(last.Payload.Data), `"id":`) {
		t.Fatalf("the last message is %s", last.Body)
	}
	_ = c
	if err := verify(newSecret, last, false); err != nil {
		t.Errorf("after the overlap, the new secret does not verify: %v", err)
	}
	if err := verify(ep.Secret, last, false); err == nil {
		t.Error("after the overlap, the old secret still verifies")
	}
}
