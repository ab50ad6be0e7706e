package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
)

// A paid and settled link's timeline reads in plain words for everyone;
// the StableMint event names are only in the admin's disclosure, and the
// technical identifiers sit under "Technical details".
func TestTimelineSpeaksPlainlyAndKeepsTheRawEventForAdmins(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-WORDS")
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, l.ID, paylink.StatusSettled)
	testkit.WaitFor(t, "every event on the timeline", func() bool { return len(w.eventLines(t, l.ID)) == 5 })
	w.addUser("viewer@example.com", paylink.RoleViewer)
	w.addUser("admin@example.com", paylink.RoleAdmin)
	path := "/links/" + strconv.FormatInt(l.ID, 10)

	viewer := w.browser()
	viewer.login("viewer@example.com")
	p := viewer.get(path)
	if p.status() != http.StatusOK {
		t.Fatalf("link page: %d", p.status())
	}
	titles := p.find("[data-testid=timeline-title]").Map(func(_ int, s *goquerySelection) string { return s.Text() })
	for _, want := range []string{"Link created", "Checkout link created", "Payment started", "Payment received", "Settled to your account"} {
		if !contains(titles, want) {
			t.Errorf("timeline titles %q lack %q", titles, want)
		}
	}
	timeline := p.find("[data-testid=timeline]").Text()
	if strings.Contains(timeline, "partner.customer") {
		t.Errorf("a viewer's timeline shows a raw event name: %s", timeline)
	}
	if n := p.find("[data-testid=timeline-raw]").Length(); n != 0 {
		t.Errorf("a viewer sees %d raw-event disclosures", n)
	}
	tech := p.find("details[data-testid=technical-details]")
	if tech.Length() != 1 || !strings.Contains(tech.Text(), l.IdempotencyKey) || tech.Find("summary").Text() != "Technical details" {
		t.Errorf("technical details: %q", tech.Text())
	}
	if facts := p.find("dl[data-testid=link-facts]").Text(); strings.Contains(facts, l.IdempotencyKey) {
		t.Errorf("the idempotency key is among the everyday details: %s", facts)
	}

	admin := w.browser()
	admin.login("admin@example.com")
	p = admin.get(path)
	raw := p.find("[data-testid=timeline-raw]")
	if raw.Length() != 5 || !strings.Contains(raw.Text(), "partner.customer.deposit.completed") {
		t.Fatalf("admin's raw-event disclosures: %d %q", raw.Length(), raw.Text())
	}
	href, _ := raw.First().Find("a").Attr("href")
	ev := admin.get(href)
	if ev.status() != http.StatusOK || ev.find("details[data-testid=event-raw]").Length() == 0 {
		t.Fatalf("the event page %s: %d, raw body under a disclosure: %d", href, ev.status(), ev.find("details[data-testid=event-raw]").Length())
	}
	if !strings.Contains(ev.find("h1").Text(), "Payment") {
		t.Errorf("the event page's heading is not in plain words: %q", ev.find("h1").Text())
	}
	list := admin.get("/admin/events")
	if !strings.Contains(list.find("[data-testid=event-name]").Text(), "Settled to your account") {
		t.Errorf("the events list does not name events plainly: %q", list.find("[data-testid=event-name]").Text())
	}
}

// A user's time zone changes how every time reads on their pages; a name
// that is no zone is refused beside the field.
func TestTimeZoneSetting(t *testing.T) {
	e := newEnv(t)
	e.addUser("clerk@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("clerk@example.com")
	acc := b.get("/account")
	if got := acc.find("[data-testid=zone-now]").Text(); got != "25 Nov 2026, 09:00 UTC" {
		t.Fatalf("account shows now as %q before choosing a zone", got)
	}
	if v, _ := acc.find("input#time_zone").Attr("value"); v != "UTC" {
		t.Fatalf("zone field %q, want UTC", v)
	}
	for _, bad := range []string{"Mars/Olympus", "../../etc/passwd", "Local", ""} {
		p := b.submit("/account", "/account/time-zone", url.Values{"time_zone": {bad}})
		if p.status() != http.StatusUnprocessableEntity || p.find("#time_zone-error").Length() != 1 {
			t.Errorf("zone %q: status %d, error beside the field: %d", bad, p.status(), p.find("#time_zone-error").Length())
		}
	}
	p := b.submit("/account", "/account/time-zone", url.Values{"time_zone": {"Europe/Berlin"}})
	if p.status() != http.StatusSeeOther {
		t.Fatalf("saving Europe/Berlin: %d", p.status())
	}
	acc = b.get("/account")
	if got := acc.find("[data-testid=zone-now]").Text(); got != "25 Nov 2026, 10:00 CET" {
		t.Errorf("account shows now as %q in Berlin", got)
	}
	if rows := acc.find("[data-testid=session-row]").Text(); !strings.Contains(rows, "25 Nov 2026, 10:00 CET") {
		t.Errorf("sessions not in the chosen zone: %q", rows)
	}
	// The audit log records the change, and shows it in the viewer's zone.
	e.addUser("boss@example.com", paylink.RoleAdmin)
	admin := e.browser()
	admin.login("boss@example.com")
	audit := admin.get("/admin/audit?action=user.time_zone")
	row := audit.find("[data-testid=audit-row]")
	if row.Length() != 1 || !strings.Contains(row.Text(), "UTC to Europe/Berlin") || !strings.Contains(row.Text(), "25 Nov 2026, 09:00 UTC") {
		t.Errorf("audit row: %q", row.Text())
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}
