package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
)

// TestCancelALinkFromItsPage: finance cancels an open link with a reason;
// the page then shows why and when, offers re-issue and never the checkout
// or email again; a missing reason keeps what was typed and says so by the
// field; cancelling twice is harmless; viewers cannot; a paid link is
// refused with a message and stays paid.
func TestCancelALinkFromItsPage(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-CANCEL")
	b := w.browser()
	b.login(w.user.Email)
	path := "/links/" + strconv.FormatInt(l.ID, 10)

	page := b.get(path)
	if page.find("[data-testid=cancel]").Length() != 1 || page.find("[data-testid=checkout]").Length() != 1 {
		t.Fatal("an open link offers no cancel or no checkout")
	}
	if page.find("[data-testid=link-reminders]").Length() != 1 {
		t.Fatal("an open link's page does not show its reminders")
	}
	if warn := page.find("[data-testid=cancel-warning]").Text(); !strings.Contains(warn, "may still accept a payment until") {
		t.Fatalf("the cancel form does not say the checkout page stays payable: %q", warn)
	}

	refused := b.submit(path, path+"/cancel", url.Values{"reason": {"other"}, "reasonText": {"  "}})
	if refused.status() != http.StatusUnprocessableEntity || !strings.Contains(refused.find(`[data-field="reasonText"]`).Text(), "Say why") {
		t.Fatalf("other without words: %d %q", refused.status(), refused.find("[data-testid=form-error]").Text())
	}
	if v, _ := refused.find(`#cancel-reason option[selected]`).Attr("value"); v != "other" {
		t.Fatalf("the refused form lost the reason picked: %q", v)
	}
	if _, open := refused.find("[data-testid=cancel]").Attr("open"); !open {
		t.Fatal("the refused cancel form is folded away")
	}

	done := b.submit(path, path+"/cancel", url.Values{"reason": {"paid_another_way"}, "reasonText": {"bank transfer 3 Dec"}})
	if done.status() != http.StatusSeeOther {
		t.Fatalf("cancel: %d", done.status())
	}
	page = b.get(path)
	if page.find("[data-testid=link-status]").Text() != "cancelled" {
		t.Fatalf("status after cancel: %q", page.find("[data-testid=link-status]").Text())
	}
	ended := page.find("[data-testid=ended]").Text()
	if !strings.Contains(ended, "Paid another way — bank transfer 3 Dec") || !strings.Contains(ended, "by ") {
		t.Fatalf("the page does not say why and by whom: %q", ended)
	}
	for _, gone := range []string{"checkout", "qr", "email-compose", "cancel", "copy-url", "link-reminders"} {
		if page.find("[data-testid="+gone+"]").Length() != 0 {
			t.Errorf("a cancelled link still offers %s", gone)
		}
	}
	if page.find("[data-testid=reissue]").Length() != 1 || page.find("[data-testid=still-payable]").Length() != 1 {
		t.Error("a cancelled link offers no re-issue, or does not say its checkout may still take a payment")
	}
	if !strings.Contains(page.find(".flash").Text(), "Link cancelled.") {
		t.Errorf("no confirmation: %q", page.find(".flash").Text())
	}

	again := b.submit(path, path+"/cancel", url.Values{"reason": {"not_owed"}})
	if again.status() != http.StatusSeeOther || !strings.Contains(b.get(path).find(".flash").Text(), "already cancelled") {
		t.Fatalf("second cancel: %d", again.status())
	}
	if got := w.link(t, l.ID); got.CancelReason != "Paid another way — bank transfer 3 Dec" {
		t.Fatalf("a second cancel changed the reason to %q", got.CancelReason)
	}

	// The customer pays through the page StableMint still shows: applied,
	// flagged, and the page says so.
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	paid := w.waitStatus(t, l.ID, paylink.StatusSettled)
	if !paid.PaidAfterCancel {
		t.Fatal("a payment after cancel is not flagged")
	}
	page = b.get(path)
	if page.find("[data-testid=flag-paid-after-cancel]").Length() != 1 || page.find("[data-testid=actions-paid]").Length() != 1 {
		t.Fatal("the paid-after-cancel link does not show its payment and flag")
	}
	// The page offers no cancel any more; a request made anyway is refused.
	refusedPaid := b.post(path+"/cancel", url.Values{"reason": {"not_owed"}, "_csrf": {b.csrf(path)}})
	if refusedPaid.status() != http.StatusConflict || !strings.Contains(refusedPaid.find("[data-testid=link-problem]").Text(), "is paid") {
		t.Fatalf("cancel a paid link: %d %q", refusedPaid.status(), refusedPaid.find("[data-testid=link-problem]").Text())
	}
	if w.link(t, l.ID).Status != paylink.StatusSettled {
		t.Fatal("a refused cancel changed the paid link")
	}

	viewer := w.browser()
	w.addUser("viewer@example.com", paylink.RoleViewer)
	viewer.login("viewer@example.com")
	other := w.newLink(t, "INV-VIEW")
	vpath := "/links/" + strconv.FormatInt(other.ID, 10)
	if viewer.get(vpath).find("[data-testid=cancel]").Length() != 0 {
		t.Error("a viewer is offered cancel")
	}
	if p := viewer.post(vpath+"/cancel", url.Values{"reason": {"not_owed"}, "_csrf": {viewer.csrf(vpath)}}); p.status() != http.StatusForbidden {
		t.Errorf("a viewer's cancel: %d", p.status())
	}
	if w.link(t, other.ID).Status != paylink.StatusOpen {
		t.Error("a viewer cancelled a link")
	}
}

// TestLiveFragmentRedrawsTheActionArea: the live fragment carries the
// action area for the status now, keyed by it, so an open page loses its
// checkout and email the moment the customer pays.
func TestLiveFragmentRedrawsTheActionArea(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-LIVE")
	b := w.browser()
	b.login(w.user.Email)
	live := "/links/" + strconv.FormatInt(l.ID, 10) + "/live"
	open := b.get(live)
	if open.find(`[data-live-part="actions"]`).AttrOr("data-live-key", "") != "open." || open.find("[data-testid=checkout]").Length() != 1 {
		t.Fatalf("open fragment: key %q", open.find(`[data-live-part="actions"]`).AttrOr("data-live-key", ""))
	}
	if err := w.sb.Outcome(l.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, l.ID, paylink.StatusSettled)
	testkit.WaitFor(t, "the fragment to show the payment", func() bool {
		return b.get(live).find("[data-testid=actions-paid]").Length() == 1
	})
	paid := b.get(live)
	if paid.find(`[data-live-part="actions"]`).AttrOr("data-live-key", "") == "open." ||
		paid.find("[data-testid=checkout]").Length() != 0 || paid.find("[data-testid=email-compose]").Length() != 0 ||
		paid.find("[data-testid=settled-at]").Length() != 1 {
		t.Fatal("the paid fragment still sells the link, or lacks when it settled")
	}
}

// TestCancelSelectedLinks: ticked on the list and cancelled together with
// one reason, each through the same service as the link page; a paid link
// among them is left as it is and named; the list comes back as it was.
func TestCancelSelectedLinks(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	a, b2, paid := w.newLink(t, "INV-B1"), w.newLink(t, "INV-B2"), w.newLink(t, "INV-B3")
	if err := w.sb.Outcome(paid.SMReference, sandbox.OutcomePay); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, paid.ID, paylink.StatusSettled)
	b := w.browser()
	b.login(w.user.Email)
	list := b.get("/links?q=INV-B")
	if list.find("[data-testid=select-link]").Length() != 2 || list.find("[data-testid=cancel-selected]").Length() != 1 {
		t.Fatalf("the list offers %d checkboxes (want the 2 open links) and %d cancel buttons",
			list.find("[data-testid=select-link]").Length(), list.find("[data-testid=cancel-selected]").Length())
	}
	ids := func(ls ...int64) []string {
		var out []string
		for _, id := range ls {
			out = append(out, strconv.FormatInt(id, 10))
		}
		return out
	}
	noReason := b.submit("/links", "/links/cancel", url.Values{"ids": ids(a.ID), "back": {"/links?q=INV-B"}})
	if noReason.status() != http.StatusSeeOther || w.link(t, a.ID).Status != paylink.StatusOpen ||
		!strings.Contains(b.get(noReason.location()).find(".flash").Text(), "Choose why") {
		t.Fatal("a cancel without a reason went through, or did not say why not")
	}
	res := b.submit("/links", "/links/cancel", url.Values{"ids": ids(a.ID, b2.ID, paid.ID), "reason": {"not_owed"},
		"back": {"/links?q=INV-B"}})
	if res.status() != http.StatusSeeOther || res.location() != "/links?q=INV-B" {
		t.Fatalf("bulk cancel: %d to %q", res.status(), res.location())
	}
	msg := b.get(res.location()).find(".flash").Text()
	if !strings.Contains(msg, "Cancelled 2 links.") || !strings.Contains(msg, "#"+strconv.FormatInt(paid.ID, 10)+" (settled)") {
		t.Fatalf("bulk cancel message: %q", msg)
	}
	for _, id := range []int64{a.ID, b2.ID} {
		if l := w.link(t, id); l.Status != paylink.StatusCancelled || l.CancelReason != "No longer owed" {
			t.Errorf("link %d: %s %q", id, l.Status, l.CancelReason)
		}
	}
	if w.link(t, paid.ID).Status != paylink.StatusSettled {
		t.Error("the paid link was changed")
	}
	if p := b.submit("/links", "/links/cancel", url.Values{"ids": ids(a.ID), "reason": {"not_owed"}, "back": {"https://evil.example/"}}); p.location() != "/links" {
		t.Errorf("back to %q", p.location())
	}
}

// TestNewLinkWithItsOwnReminderRule: the new-link form offers the link's
// own reminder rule, folded away and starting as the settings' rule; a
// rule that is not whole numbers is refused by its field with everything
// kept; a good one is the link's from the start.
func TestNewLinkWithItsOwnReminderRule(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	form := b.get("/links/new")
	if _, open := form.find("[data-testid=form-reminders]").Attr("open"); open {
		t.Error("the reminders section is open on a fresh form")
	}
	if v, _ := form.find(`input[name="reminders.beforeHours"]`).Attr("value"); v != "24" {
		t.Errorf("the own rule does not start as the settings' (24 h before expiry): %q", v)
	}
	vals := b.fillLinkForm(validLink())
	vals.Set("reminders.mode", "own")
	vals.Set("reminders.beforeOn", "on")
	vals.Set("reminders.beforeHours", "six")
	vals.Set("reminders.afterDays", "3") // prefilled on the form, its box left unticked
	vals.Set("reminders.max", "1")
	refused := b.post("/links", vals)
	if refused.status() != http.StatusUnprocessableEntity || refused.find(`[data-field="reminders.beforeHours"]`).Length() != 1 {
		t.Fatalf("a rule in words: %d %q", refused.status(), refused.find("[data-testid=form-error]").Text())
	}
	if v, _ := refused.find(`input[name="reminders.beforeHours"]`).Attr("value"); v != "six" {
		t.Errorf("the typed hours were lost: %q", v)
	}
	if _, open := refused.find("[data-testid=form-reminders]").Attr("open"); !open {
		t.Error("the refused reminders section is folded away")
	}
	vals.Set("reminders.beforeHours", "6")
	created := b.post("/links", vals)
	if created.status() != http.StatusSeeOther {
		t.Fatalf("create with an own rule: %d %q", created.status(), created.find("[data-testid=form-error]").Text())
	}
	rs, err := e.store.LinkReminders(context.Background(), linkIDFrom(t, created.location()))
	if err != nil || rs.Override == nil || rs.Override.BeforeHours != 6 || rs.Override.Max != 1 || !rs.Override.BeforeExpiry {
		t.Fatalf("the link's rule: %+v %v", rs.Override, err)
	}
	if got := b.get(created.location()).find("[data-testid=reminders-rule]").Text(); !strings.Contains(got, "this link's own") {
		t.Errorf("the link page shows the rule as %q", got)
	}
}
