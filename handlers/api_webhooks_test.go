package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

func events(ts ...string) []api.WebhookEventType {
	out := make([]api.WebhookEventType, len(ts))
	for i, t := range ts {
		out[i] = api.WebhookEventType(t)
	}
	return out
}

// An ERP's key with webhooks:manage registers, reads, changes, rotates and
// deletes an endpoint through the API: the page's checks (an internal
// address refused on url), the secret shown on creation and rotation
// only, and every change audited with the key as the actor. A key without
// the scope is told which one it lacks.
func TestAPIWebhookEndpoints(t *testing.T) {
	e := newAPIEnv(t, withOutbound(false, 0))
	ctx := context.Background()

	noScope := e.client(e.key("reader", allScopes, ""))
	res, err := noScope.ListWebhookEndpointsWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := problemOf(t, res.Body); res.StatusCode() != http.StatusForbidden || p.Detail == nil || !strings.Contains(*p.Detail, "lacks the scope webhooks:manage") {
		t.Fatalf("no scope: %d %s", res.StatusCode(), res.Body)
	}

	tok := e.key("ERP hooks", []string{"webhooks:manage"}, "")
	c := e.client(tok)
	bad, err := c.CreateWebhookEndpointWithResponse(ctx, &api.CreateWebhookEndpointParams{IdempotencyKey: "ep-bad"},
		api.WebhookEndpointDraft{Url: "https://10.0.0.1/hook", Events: events("link.paid")})
	if err != nil {
		t.Fatal(err)
	}
	if bad.StatusCode() != http.StatusUnprocessableEntity || !strings.Contains(fieldMessages(problemOf(t, bad.Body))["url"], "paylinks refuses this address") {
		t.Fatalf("private address: %d %s", bad.StatusCode(), bad.Body)
	}
	if eps, _ := e.store.OutboundEndpoints(ctx); len(eps) != 0 {
		t.Fatalf("a refused endpoint was stored: %+v", eps)
	}

	cr, err := c.CreateWebhookEndpointWithResponse(ctx, &api.CreateWebhookEndpointParams{IdempotencyKey: "ep-1"},
		api.WebhookEndpointDraft{Url: "https://hooks.example.com/paylinks", Events: events("link.settled", "link.paid"), Description: str("ERP")})
	if err != nil {
		t.Fatal(err)
	}
	if cr.StatusCode() != http.StatusCreated || cr.JSON201 == nil {
		t.Fatalf("create: %d %s", cr.StatusCode(), cr.Body)
	}
	ep, secret := cr.JSON201.Endpoint, cr.JSON201.Secret
	if _, err := outbound.Sign([]string{secret}, "msg_1", time.Now(), nil); err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not usable: %v", secret, err)
	}
	if got := eventNames(ep.Events); got != "link.paid link.settled" || !ep.Enabled || ep.Description != "ERP" {
		t.Errorf("created endpoint: %+v", ep)
	}
	// The admin page lists what the API registered.
	if row := e.admin.get("/admin/webhook-endpoints").find("[data-testid=endpoint-row]").Text(); !strings.Contains(row, "hooks.example.com") {
		t.Errorf("the admin page does not list it: %q", row)
	}

	list, err := c.ListWebhookEndpointsWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if list.JSON200 == nil || len(list.JSON200.Data) != 1 || strings.Contains(string(list.Body), secret) {
		t.Fatalf("list: %d %s", list.StatusCode(), list.Body)
	}

	off := false
	up, err := c.UpdateWebhookEndpointWithResponse(ctx, ep.Id, api.WebhookEndpointChange{Events: ptr(events("link.paid")), Enabled: &off})
	if err != nil {
		t.Fatal(err)
	}
	if up.JSON200 == nil || eventNames(up.JSON200.Events) != "link.paid" || up.JSON200.Enabled || up.JSON200.Url != ep.Url {
		t.Fatalf("update: %d %s", up.StatusCode(), up.Body)
	}
	upBad, err := c.UpdateWebhookEndpointWithResponse(ctx, ep.Id, api.WebhookEndpointChange{Url: str("https://[::1]/hook")})
	if err != nil {
		t.Fatal(err)
	}
	if upBad.StatusCode() != http.StatusUnprocessableEntity || fieldMessages(problemOf(t, upBad.Body))["url"] == "" {
		t.Errorf("update to loopback: %d %s", upBad.StatusCode(), upBad.Body)
	}

	rot, err := c.RotateWebhookSecretWithResponse(ctx, ep.Id, &api.RotateWebhookSecretParams{IdempotencyKey: "rot-1"}, api.EmptyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rot.JSON200 == nil || rot.JSON200.Secret == secret || rot.JSON200.Endpoint.OldSecretValidUntil == nil {
		t.Fatalf("rotate: %d %s", rot.StatusCode(), rot.Body)
	}
	if d := rot.JSON200.Endpoint.OldSecretValidUntil.Sub(e.clock.Now()); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("the old secret signs for %s, want 24 h", d)
	}
	stored, _ := e.store.OutboundEndpointByID(ctx, ep.Id)
	if got := stored.Secrets(e.clock.Now()); len(got) != 2 || got[0] != rot.JSON200.Secret || got[1] != secret {
		t.Errorf("signing secrets after rotation: %d", len(got))
	}

	del, err := c.DeleteWebhookEndpointWithResponse(ctx, ep.Id)
	if err != nil {
		t.Fatal(err)
	}
	if del.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %d %s", del.StatusCode(), del.Body)
	}
	if g, _ := c.GetWebhookEndpointWithResponse(ctx, ep.Id); g.StatusCode() != http.StatusNotFound {
		t.Errorf("get after delete: %d", g.StatusCode())
	}

	// The pages' audit actions, with the key as the actor, never a secret.
	entries, err := e.store.ListAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]bool{}
	for _, a := range entries {
		if strings.Contains(a.Details, secret) || strings.Contains(a.Details, rot.JSON200.Secret) {
			t.Errorf("the audit log holds a secret: %+v", a)
		}
		if strings.HasPrefix(a.ActorEmail, "api-key:"+tok[:12]) {
			byKey[a.Action] = true
		}
	}
	for _, want := range []string{"webhook_endpoint.create", "webhook_endpoint.update", "webhook_endpoint.rotate", "webhook_endpoint.delete"} {
		if !byKey[want] {
			t.Errorf("no %s audited with the key as the actor (have %v)", want, byKey)
		}
	}
}

func eventNames(ts []api.WebhookEventType) string {
	var s []string
	for _, t := range ts {
		s = append(s, string(t))
	}
	return strings.Join(s, " ")
}

func ptr[T any](v T) *T { return &v }

// Send test event through the API, delivered to a loopback receiver in
// sandbox mode; the endpoint's delivery log, a page at a time, shows each
// attempt with its status and the answer's excerpt.
func TestAPIWebhookTestEventAndDeliveryLog(t *testing.T) {
	e := newAPIEnv(t, withOutbound(true, time.Hour))
	ctx := context.Background()
	rc := &hookReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := e.client(e.key("ERP hooks", []string{"webhooks:manage"}, ""))

	cr, err := c.CreateWebhookEndpointWithResponse(ctx, &api.CreateWebhookEndpointParams{IdempotencyKey: "ep-1"},
		api.WebhookEndpointDraft{Url: srv.URL + "/hook", Events: events("link.paid")})
	if err != nil || cr.JSON201 == nil {
		t.Fatalf("create: %v %s", err, cr.Body)
	}
	id := cr.JSON201.Endpoint.Id
	var sent []string
	for _, k := range []string{"test-1", "test-2"} {
		tr, err := c.SendWebhookTestWithResponse(ctx, id, &api.SendWebhookTestParams{IdempotencyKey: k}, api.EmptyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if tr.StatusCode() != http.StatusAccepted || tr.JSON202 == nil || tr.JSON202.Type != "webhook.test" || tr.JSON202.Status != "pending" {
			t.Fatalf("test event: %d %s", tr.StatusCode(), tr.Body)
		}
		sent = append(sent, tr.JSON202.WebhookId)
	}
	e.deliver(t)
	if _, ids := rc.snapshot(); len(ids) != 2 {
		t.Fatalf("receiver got %v, want the 2 test events", ids)
	}

	var seen []string
	var after *string
	for range 3 {
		page, err := c.ListWebhookDeliveriesWithResponse(ctx, id, &api.ListWebhookDeliveriesParams{Limit: ptr(1), After: after})
		if err != nil {
			t.Fatal(err)
		}
		if page.JSON200 == nil || len(page.JSON200.Data) != 1 {
			t.Fatalf("log page: %d %s", page.StatusCode(), page.Body)
		}
		d := page.JSON200.Data[0]
		if d.Status != "delivered" || len(d.Attempts) != 1 || d.Attempts[0].HttpStatus == nil || *d.Attempts[0].HttpStatus != 200 ||
			d.Attempts[0].ResponseExcerpt == nil || *d.Attempts[0].ResponseExcerpt != "ok" {
			t.Errorf("delivery %s: %s", d.WebhookId, page.Body)
		}
		seen = append(seen, d.WebhookId)
		after = page.JSON200.NextCursor
		if after == nil {
			break
		}
	}
	if len(seen) != 2 || seen[0] != sent[1] || seen[1] != sent[0] {
		t.Errorf("log pages, newest first: %v, sent %v", seen, sent)
	}
	badCursor, err := c.ListWebhookDeliveriesWithResponse(ctx, id, &api.ListWebhookDeliveriesParams{After: str("nope")})
	if err != nil {
		t.Fatal(err)
	}
	if badCursor.StatusCode() != http.StatusUnprocessableEntity {
		t.Errorf("a made-up cursor: %d", badCursor.StatusCode())
	}
	if nf, _ := c.ListWebhookDeliveriesWithResponse(ctx, id+100, nil); nf.StatusCode() != http.StatusNotFound {
		t.Errorf("another endpoint's log: %d", nf.StatusCode())
	}
}

// TestAPIWebhookEndpointDisabledAfterItsHostIsRefused: an endpoint saved
// on an internal host an admin allowed, whose host is later taken off the
// list, can still be disabled or relabelled: its unchanged address is not
// checked again (the worker checks it at every connection). A new address
// still is.
func TestAPIWebhookEndpointDisabledAfterItsHostIsRefused(t *testing.T) {
	e := newAPIEnv(t, withOutbound(false, 0))
	ctx := context.Background()
	admin, err := e.store.UserByEmail(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetOutboundPrivateHosts(ctx, []string{"inside.example.com"}, admin.ID, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	c := e.client(e.key("ERP hooks", []string{"webhooks:manage"}, ""))
	cr, err := c.CreateWebhookEndpointWithResponse(ctx, &api.CreateWebhookEndpointParams{IdempotencyKey: "ep-in"},
		api.WebhookEndpointDraft{Url: "https://inside.example.com/hook", Events: events("link.paid")})
	if err != nil || cr.JSON201 == nil {
		t.Fatalf("create on an allowed internal host: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	id := cr.JSON201.Endpoint.Id
	if err := e.store.SetOutboundPrivateHosts(ctx, nil, admin.ID, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	off := false
	up, err := c.UpdateWebhookEndpointWithResponse(ctx, id, api.WebhookEndpointChange{Enabled: &off, Description: str("retired")})
	if err != nil || up.JSON200 == nil || up.JSON200.Enabled || up.JSON200.Description != "retired" {
		t.Fatalf("disable once the host is refused: %v %d %s", err, up.StatusCode(), up.Body)
	}
	moved, err := c.UpdateWebhookEndpointWithResponse(ctx, id, api.WebhookEndpointChange{Url: str("https://inside.example.com/other")})
	if err != nil || moved.StatusCode() != http.StatusUnprocessableEntity || fieldMessages(problemOf(t, moved.Body))["url"] == "" {
		t.Errorf("a new address on the refused host: %v %d %s", err, moved.StatusCode(), moved.Body)
	}
}
