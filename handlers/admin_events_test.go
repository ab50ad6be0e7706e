package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
)

// deliver posts a correctly signed body and fails unless it is acknowledged.
func (w *whEnv) deliver(t *testing.T, body []byte) {
	t.Helper()
	_, sbk := testKeys(t)
	if resp, answer := postWebhook(t, w.srv.URL, body, signed(t, sbk, time.Now(), body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("delivery: %d %s", resp.StatusCode, answer)
	}
}

// lastEventID is the newest stored event.
func (w *whEnv) lastEventID(t *testing.T) int64 {
	t.Helper()
	page, err := w.store.ListWebhookDeliveries(context.Background(), db.WebhookFilter{Limit: 1})
	if err != nil || len(page.Rows) == 0 || page.Rows[0].EventID == 0 {
		t.Fatalf("no stored event: %v", err)
	}
	return page.Rows[0].EventID
}

func (w *whEnv) admin(t *testing.T) *browser {
	t.Helper()
	w.addUser("admin@example.com", paylink.RoleAdmin)
	b := w.browser()
	b.login("admin@example.com")
	return b
}

func eventPath(id int64) string { return "/admin/events/" + strconv.FormatInt(id, 10) }

func TestOnlyAdminsSeeWebhookEvents(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	w.deliver(t, []byte(`{"eventId":"e1","data":{"eventType":"mystery"}}`))
	id := w.lastEventID(t)
	for _, role := range []paylink.Role{paylink.RoleViewer, paylink.RoleFinance} {
		t.Run(string(role), func(t *testing.T) {
			w.addUser(string(role)+"@example.com", role)
			b := w.browser()
			b.login(string(role) + "@example.com")
			for _, path := range []string{"/admin/events", eventPath(id)} {
				if p := b.get(path); p.status() != http.StatusForbidden {
					t.Errorf("GET %s: %d, want 403", path, p.status())
				}
			}
			tok := b.csrf("/account")
			for _, action := range []string{"assign", "dismiss", "reapply", "accept", "leave"} {
				if p := b.post(eventPath(id)+"/"+action, url.Values{"_csrf": {tok}, "link": {"1"}}); p.status() != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403", action, p.status())
				}
			}
			if p := b.get("/account"); p.find(`a[href="/admin/events"]`).Length() != 0 {
				t.Error("the navigation offers Events to a non-admin")
			}
		})
	}
	entries, _ := w.store.ListAudit(context.Background(), 100)
	if !hasAudit(entries, "authz.denied", "GET /admin/events") {
		t.Error("refusals not audited")
	}
	if p := w.browser().get("/admin/events"); p.status() != http.StatusSeeOther {
		t.Errorf("signed out: %d, want a redirect to sign in", p.status())
	}
}

func TestEventsListFiltersAndPages(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-LIST")
	w.deliver(t, v2Body(uuid.NewString(), "partner.customer.deposit.created", l, "9.50"))
	dup := v2Body(uuid.NewString(), "partner.customer.deposit.accepted", l, "9.50")
	w.deliver(t, dup)
	w.deliver(t, dup)
	w.deliver(t, []byte("not json"))
	w.deliver(t, v2Body(uuid.NewString(), "partner.customer.deposit.accepted", db.Link{SMReference: "HS-STRAY"}, "1.00"))
	postWebhook(t, w.srv.URL, []byte(`{"forged":true}`), http.Header{})
	b := w.admin(t)

	p := b.get("/admin/events")
	if p.status() != http.StatusOK {
		t.Fatalf("list: %d", p.status())
	}
	var got []string
	p.find("[data-testid=event-row]").Each(func(_ int, s *goquerySelection) {
		o, _ := s.Attr("data-outcome")
		got = append(got, o)
	})
	want := []string{db.DeliveryRejected, string(paylink.OutcomeUnmatched), string(paylink.OutcomeUnparsable), db.DeliveryDuplicate, string(paylink.OutcomeApplied), string(paylink.OutcomeApplied)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rows newest first: %v, want %v", got, want)
	}
	if p.find(`nav a[aria-current="page"]`).Text() != "Events" {
		t.Error("Events is not the current navigation item")
	}
	for outcome, n := range map[string]int{string(paylink.OutcomeApplied): 2, db.DeliveryDuplicate: 1, string(paylink.OutcomeUnmatched): 1, db.DeliveryRejected: 1, string(paylink.OutcomeUnparsable): 1, string(paylink.OutcomeNeedsReview): 0} {
		p := b.get("/admin/events?outcome=" + outcome)
		if rows := p.find("[data-testid=event-row]").Length(); rows != n {
			t.Errorf("outcome=%s: %d rows, want %d", outcome, rows, n)
		}
		if v, _ := p.find(`#outcome option[selected]`).Attr("value"); v != outcome {
			t.Errorf("outcome=%s: the select shows %q", outcome, v)
		}
	}
	p = b.get("/admin/events?type=partner.customer.deposit.created")
	if rows := p.find("[data-testid=event-row]").Length(); rows != 1 {
		t.Errorf("type filter: %d rows, want 1", rows)
	}
	if p.find(`#type option[value="partner.customer.deposit.accepted"]`).Length() != 1 {
		t.Error("the type filter does not offer the types received")
	}
	if p := b.get("/admin/events?outcome=bogus"); p.find("[data-testid=event-row]").Length() != 6 {
		t.Error("an unknown outcome filter does not show everything")
	}
}

func TestEventPageShowsHeadersAndEscapedBody(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-XSS")
	l.WebsiteReference = `"><script>alert(1)</script>`
	body := v2Body("evt-xss", "partner.customer.deposit.created", l, "9.50")
	w.deliver(t, body)
	b := w.admin(t)
	p := b.get(eventPath(w.lastEventID(t)))
	if p.status() != http.StatusOK {
		t.Fatalf("event page: %d", p.status())
	}
	if strings.Contains(p.body, "<script>alert(1)") {
		t.Fatal("the raw body reached the page unescaped")
	}
	shown := p.find("[data-testid=event-body]").Text()
	if !strings.Contains(shown, `"eventId": "evt-xss"`) || !strings.Contains(shown, "\n  \"data\": {") || !strings.Contains(shown, `"amount": 9.50`) {
		t.Fatalf("body not pretty-printed exactly: %s", shown)
	}
	if ts := p.find("[data-testid=header-timestamp]").Text(); !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp header %q", ts)
	}
	if sig := p.find("[data-testid=header-signature]").Text(); len(sig) < 300 {
		t.Errorf("signature header %q", sig)
	}
	if p.find("[data-testid=event-link]").Text() != "#"+strconv.FormatInt(l.ID, 10) {
		t.Error("no link to the matched link")
	}
	if p.find("[data-testid=reapply]").Length() != 1 || p.find("[data-testid=assign]").Length() != 0 {
		t.Error("a matched event offers the wrong actions")
	}
	if b.get("/admin/events/999999").status() != http.StatusNotFound || b.get("/admin/events/x").status() != http.StatusNotFound {
		t.Error("unknown events are not 404")
	}
}

func TestAdminAssignsAnUnmatchedEvent(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-ASSIGN")
	w.newLink(t, "INV-TWIN")
	w.newLink(t, "INV-TWIN")
	stray := db.Link{SMReference: "HS-ELSEWHERE", WebsiteReference: "NOPE"}
	w.deliver(t, v2Body(uuid.NewString(), "partner.customer.deposit.accepted", stray, "9.50"))
	id := w.lastEventID(t)
	b := w.admin(t)
	page := eventPath(id)
	if b.get(page).find("[data-testid=assign-form]").Length() != 1 {
		t.Fatal("no assign form on an unmatched event")
	}
	for _, c := range []struct{ value, want string }{
		{"", "Enter the link's number"},
		{"HS-NOTHING", "No link has that number or reference"},
		{"INV-TWIN", "2 links carry that reference"},
		{"#999999", "No link has that number"},
	} {
		p := b.submit(page, page+"/assign", url.Values{"link": {c.value}})
		if p.status() != http.StatusUnprocessableEntity {
			t.Fatalf("assign %q: %d, want 422", c.value, p.status())
		}
		if msg := p.find(`[data-testid=form-error][data-field=link]`).Text(); !strings.Contains(msg, c.want) {
			t.Errorf("assign %q: message %q, want %q", c.value, msg, c.want)
		}
		if v, _ := p.find(`input[name=link]`).Attr("value"); v != c.value {
			t.Errorf("assign %q: the field lost its value: %q", c.value, v)
		}
	}
	p := b.submit(page, page+"/assign", url.Values{"link": {l.SMReference}})
	if p.status() != http.StatusSeeOther || p.location() != page {
		t.Fatalf("assign: %d to %q", p.status(), p.location())
	}
	if got := w.link(t, l.ID); got.Status != paylink.StatusPaid || got.SMSessionID != "HS-ELSEWHERE" {
		t.Fatalf("assigned link: %s session %q", got.Status, got.SMSessionID)
	}
	after := b.get(page)
	if after.find("[data-testid=event-outcome]").First().Text() != "applied" || !strings.Contains(after.find("[data-testid=flash]").Text(), "Assigned to link #") {
		t.Errorf("after assigning: outcome %q flash %q", after.find("[data-testid=event-outcome]").First().Text(), after.find("[data-testid=flash]").Text())
	}
	lines := w.eventLines(t, l.ID)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last.Message, "Assigned by an admin") || last.ActorName == "" {
		t.Errorf("timeline line %+v", last)
	}
	entries, _ := w.store.ListAudit(context.Background(), 20)
	if !hasAudit(entries, "webhook.assign", "webhook:"+strconv.FormatInt(id, 10)) {
		t.Error("assignment not audited")
	}
	// Assigning twice is a conflict, not a second payment.
	if p := b.submit(page, page+"/assign", url.Values{"link": {strconv.FormatInt(l.ID, 10)}}); p.status() != http.StatusConflict {
		t.Errorf("second assignment: %d, want 409", p.status())
	}
}

func TestAdminDismissesAndReappliesEvents(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	w.deliver(t, v2Body(uuid.NewString(), "partner.customer.deposit.created", db.Link{SMReference: "HS-GHOST"}, "1.00"))
	id := w.lastEventID(t)
	b := w.admin(t)
	page := eventPath(id)
	long := strings.Repeat("x", 501)
	if p := b.submit(page, page+"/dismiss", url.Values{"note": {long}}); p.status() != http.StatusUnprocessableEntity {
		t.Fatalf("long note: %d, want 422", p.status())
	}
	if p := b.submit(page, page+"/dismiss", url.Values{"note": {"test traffic"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("dismiss: %d", p.status())
	}
	p := b.get(page)
	if p.find("[data-testid=event-outcome]").First().Text() != "dismissed" || !strings.Contains(p.find("[data-testid=event-detail]").Text(), "test traffic") {
		t.Fatalf("after dismissing: %q", p.find("[data-testid=event-detail]").Text())
	}
	if p.find("[data-testid=dismiss]").Length() != 0 || p.find("[data-testid=assign]").Length() != 1 {
		t.Error("a dismissed event must offer assign, not dismiss")
	}
	// The link appears later (its create answer was slow): re-applying finds it.
	l := w.newLink(t, "INV-GHOST")
	if _, err := openRaw(t, w.store).Exec("UPDATE links SET sm_reference = 'HS-GHOST' WHERE id = ?", l.ID); err != nil {
		t.Fatal(err)
	}
	if p := b.submit(page, page+"/reapply", url.Values{}); p.status() != http.StatusSeeOther {
		t.Fatalf("re-apply: %d", p.status())
	}
	if got := w.link(t, l.ID); got.Status != paylink.StatusProcessing {
		t.Fatalf("re-applied link: %s, want processing", got.Status)
	}
	entries, _ := w.store.ListAudit(context.Background(), 20)
	for _, a := range []string{"webhook.dismiss", "webhook.reapply"} {
		if !hasAudit(entries, a, "webhook:"+strconv.FormatInt(id, 10)) {
			t.Errorf("%s not audited", a)
		}
	}
}

func TestAdminAcceptsOrLeavesAMismatchedPayment(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	b := w.admin(t)
	for _, accept := range []bool{true, false} {
		l := w.newLink(t, "INV-SHORT")
		w.deliver(t, v2Body(uuid.NewString(), "partner.customer.deposit.accepted", l, "9.05"))
		id := w.lastEventID(t)
		page := eventPath(id)
		fin := w.browser()
		if accept {
			fin.login("maker@example.com")
			lp := fin.get("/links/" + strconv.FormatInt(l.ID, 10))
			if lp.find("[data-testid=flag-needs-review]").Length() != 1 || lp.find("[data-testid=link-status]").First().Text() != "open" {
				t.Fatal("the link page does not show the flag on an open link")
			}
		}
		ep := b.get(page)
		if ep.find("[data-testid=accept]").Length() != 1 || ep.find("[data-testid=leave]").Length() != 1 {
			t.Fatal("a flagged payment offers no decision")
		}
		action, want, audit := "/leave", paylink.StatusOpen, "webhook.review_leave"
		if accept {
			action, want, audit = "/accept", paylink.StatusPaid, "webhook.review_accept"
		}
		if p := b.submit(page, page+action, url.Values{}); p.status() != http.StatusSeeOther {
			t.Fatalf("%s: %d", action, p.status())
		}
		got := w.link(t, l.ID)
		if got.Status != want || got.NeedsReview {
			t.Fatalf("%s: link %s review=%v, want %s and no flag", action, got.Status, got.NeedsReview, want)
		}
		entries, _ := w.store.ListAudit(context.Background(), 20)
		if !hasAudit(entries, audit, "link:"+strconv.FormatInt(l.ID, 10)) {
			t.Errorf("%s not audited", audit)
		}
		if p := b.submit(page, page+action, url.Values{}); p.status() != http.StatusConflict {
			t.Errorf("deciding twice: %d, want 409", p.status())
		}
	}
}

func TestLinkPageUpdatesLive(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-LIVE")
	w.addUser("viewer@example.com", paylink.RoleViewer)
	b := w.browser()
	b.login("viewer@example.com")
	linkPage := "/links/" + strconv.FormatInt(l.ID, 10)
	p := b.get(linkPage)
	liveURL, _ := p.find("[data-live-url]").Attr("data-live-url")
	if want := w.echo.Reverse(handlers.RouteLinkLive, l.ID); liveURL != want {
		t.Fatalf("page polls %q, the route is %q", liveURL, want)
	}
	for _, part := range []string{"status", "flags", "timeline"} {
		if p.find(`[data-live-part="`+part+`"]`).Length() != 1 {
			t.Errorf("the page has no live %s part", part)
		}
	}
	if strings.Contains(p.body, "<script>") && !strings.Contains(p.body, `<script nonce=`) {
		t.Error("an inline script without a nonce")
	}

	live := b.get(liveURL)
	if live.status() != http.StatusOK || live.find("[data-testid=link-status]").Text() != "open" {
		t.Fatalf("live fragment: %d %q", live.status(), live.find("[data-testid=link-status]").Text())
	}
	if live.find("html").Length() != 0 && strings.Contains(live.body, "<html") {
		t.Error("the fragment is a whole page")
	}
	version, _ := live.find("[data-live-version]").Attr("data-live-version")
	if same := b.get(liveURL + "?v=" + url.QueryEscape(version)); same.status() != http.StatusNoContent {
		t.Fatalf("unchanged: %d, want 204", same.status())
	}
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, l.ID, paylink.StatusSettled)
	testkit.WaitFor(t, "the whole sequence", func() bool { return len(w.eventLines(t, l.ID)) == 5 })
	changed := b.get(liveURL + "?v=" + url.QueryEscape(version))
	if changed.status() != http.StatusOK || changed.find("[data-testid=link-status]").Text() != "settled" {
		t.Fatalf("after paying: %d %q", changed.status(), changed.find("[data-testid=link-status]").Text())
	}
	if n := changed.find("[data-testid=timeline-entry]").Length(); n < 7 {
		t.Errorf("live timeline has %d entries", n)
	}
	if w.browser().get(liveURL).status() != http.StatusSeeOther {
		t.Error("the live fragment is served signed out")
	}
	if b.get("/links/999999/live").status() != http.StatusNotFound {
		t.Error("an unknown link's fragment is not 404")
	}
}
