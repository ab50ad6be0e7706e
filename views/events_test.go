package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/paylinks/paylinks/views"
)

func renderEvents(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, buf.String()
}

const hostile = `"><script>alert(1)</script><img src=x onerror=alert(1)>`

func TestEventPageEscapesWhatStableMintSent(t *testing.T) {
	p := views.EventPage{
		Layout: views.Layout{Title: "Webhook event #7", User: &views.Viewer{Name: "Ada", Role: "admin"}, CSRF: "tok"},
		ID:     7, Key: hostile, Family: "v2", Type: hostile, Effect: "paid", Outcome: "needs_review", OutcomeLabel: "needs review",
		Detail: hostile, LinkID: 3, LinkURL: "/links/3", Fields: []views.KV{{Key: "websiteReference", Value: hostile}},
		Deliveries: []views.EventDelivery{{Kind: "event", IP: "192.0.2.1", Timestamp: "2026-11-25T10:00:00Z", Signature: "c2ln"},
			{Kind: "duplicate", Timestamp: hostile, Signature: hostile}},
		Body:      "{\n  \"websiteReference\": \"" + hostile + "\"\n}",
		EventsURL: "/admin/events", ReapplyURL: "/admin/events/7/reapply",
		AcceptURL: "/admin/events/7/accept", LeaveURL: "/admin/events/7/leave",
		Errors: views.FieldErrors{"link": "No link has that number or reference."},
	}
	doc, html := renderEvents(t, views.Event(p))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<img src=x") {
		t.Fatal("provider content rendered as markup")
	}
	if got := doc.Find("[data-testid=event-body]").Text(); !strings.Contains(got, hostile) {
		t.Errorf("the body is not shown as text: %q", got)
	}
	if doc.Find("[data-testid=event-delivery]").Length() != 2 || doc.Find("[data-testid=event-outcome]").Text() != "needs review" {
		t.Error("deliveries or outcome missing")
	}
	for _, id := range []string{"accept", "leave", "reapply"} {
		form := doc.Find("[data-testid=" + id + "]").Closest("form")
		if form.Length() != 1 || form.Find(`input[name="_csrf"][value="tok"]`).Length() != 1 {
			t.Errorf("%s: no form with the CSRF token", id)
		}
	}
	if doc.Find("[data-testid=assign], [data-testid=dismiss]").Length() != 0 {
		t.Error("actions offered that the page did not ask for")
	}
}

func TestEventsListMarksEachOutcome(t *testing.T) {
	p := views.EventsPage{
		Layout: views.Layout{Title: "Webhook events"}, Action: "/admin/events", Outcome: "rejected",
		Outcomes: []views.Option{{Value: "", Label: "All outcomes"}, {Value: "rejected", Label: "rejected"}},
		Rows: []views.EventRow{
			{DeliveryID: 2, Outcome: "rejected", OutcomeLabel: "rejected", Detail: hostile, IP: "203.0.113.9"},
			{DeliveryID: 1, Outcome: "applied", OutcomeLabel: "applied", Type: hostile, EventURL: "/admin/events/1", LinkID: 3, LinkURL: "/links/3"},
		},
		NextURL: "/admin/events?before=1",
	}
	doc, html := renderEvents(t, views.Events(p))
	if strings.Contains(html, "<script>alert") {
		t.Fatal("input rendered as markup")
	}
	rows := doc.Find("[data-testid=event-row]")
	if rows.Length() != 2 || rows.First().AttrOr("data-outcome", "") != "rejected" {
		t.Fatalf("rows %d", rows.Length())
	}
	if rows.First().Find("[data-testid=event-open]").Length() != 0 || rows.Last().Find("[data-testid=event-open]").Length() != 1 {
		t.Error("only stored events link to a page")
	}
	if doc.Find(`#outcome option[selected]`).AttrOr("value", "") != "rejected" || doc.Find("[data-testid=next-page]").Length() != 1 {
		t.Error("filter or pager wrong")
	}
	empty, _ := renderEvents(t, views.Events(views.EventsPage{}))
	if empty.Find("[data-testid=events-empty]").Length() != 1 {
		t.Error("no empty state")
	}
}

func TestLinkLiveFragmentHasEveryPart(t *testing.T) {
	doc, html := renderEvents(t, views.LinkLive(views.LinkLiveFragment{Version: "a.b", Status: "paid", Flags: views.LinkFlagSet{PaidAfterExpiry: true},
		Actions:  views.LinkActions{Status: "paid", Key: "paid.", Amount: "€9.50", PaidAt: "25 Nov 2026 10:00 UTC"},
		Timeline: []views.TimelineEntry{{At: "25 Nov 2026 10:00 UTC", Kind: "status", Message: hostile}}}))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<html") {
		t.Fatal("fragment is unsafe or a whole page")
	}
	if doc.Find("[data-live-version]").AttrOr("data-live-version", "") != "a.b" {
		t.Error("no version")
	}
	for _, part := range []string{"status", "flags", "actions", "timeline"} {
		if doc.Find(`[data-live-part="`+part+`"]`).Length() != 1 {
			t.Errorf("no %s part", part)
		}
	}
	if doc.Find("[data-testid=link-status]").Text() != "paid" || doc.Find("[data-testid=flag-paid-after-expiry]").Length() != 1 ||
		doc.Find("[data-testid=flag-needs-review]").Length() != 0 {
		t.Error("status or flags wrong")
	}
	if views.LinkLiveURL(42) != "/links/42/live" {
		t.Error(views.LinkLiveURL(42))
	}
}
