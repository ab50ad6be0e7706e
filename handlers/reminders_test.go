package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// TestReminderTemplateIsEditedBesideTheFirstOne: the email template page
// has a second template, the reminder, previewed, saved and audited like
// the first, and the reminder job uses it.
func TestReminderTemplateIsEditedBesideTheFirstOne(t *testing.T) {
	m := newMailEnv(t, true)
	m.addUser("admin@example.com", paylink.RoleAdmin)
	a := m.browser()
	a.login("admin@example.com")
	p := a.get("/admin/email-template?template=reminder")
	if p.status() != http.StatusOK || p.find("[data-testid=template-title]").Text() != "Reminder email" ||
		!strings.Contains(p.find("[data-testid=preview-text]").Text(), "A friendly reminder") ||
		p.find(`[data-testid=template-tabs] a`).Length() != 2 {
		t.Fatalf("reminder template page: %d %q", p.status(), p.find("[data-testid=template-title]").Text())
	}
	if v, _ := p.find(`input[name=template]`).Attr("value"); v != db.ReminderTemplateName {
		t.Fatalf("hidden template field %q", v)
	}
	if p := a.get("/admin/email-template?template=nope"); p.status() != http.StatusNotFound {
		t.Fatalf("unknown template: %d", p.status())
	}
	form := url.Values{"template": {db.ReminderTemplateName}, "subject": {"Still open: {{.Amount}}"},
		"text": {"Reminder {{.Link}}"}, "html": {"<p>Reminder <a href=\"{{.Link}}\">pay</a></p>"}, "action": {"save"}}
	if s := a.submit("/admin/email-template?template=reminder", "/admin/email-template", form); s.status() != http.StatusSeeOther ||
		s.location() != "/admin/email-template?template=reminder" {
		t.Fatalf("save: %d %q", s.status(), s.location())
	}
	ctx := context.Background()
	if tp, err := m.store.EmailTemplate(ctx, db.ReminderTemplateName); err != nil || tp.Subject != "Still open: {{.Amount}}" {
		t.Fatalf("saved reminder template: %+v %v", tp, err)
	}
	if _, err := m.store.EmailTemplate(ctx, db.EmailTemplateName); err == nil {
		t.Fatal("saving the reminder changed the payment-link template")
	}
	entries, _ := m.store.ListAudit(ctx, 20)
	if !hasAudit(entries, "email.template.change", "email_template:reminder") {
		t.Error("reminder template change not audited")
	}

	// The reminder job renders it.
	m.send(t, m.b, m.link.ID, nil)
	m.drain(t)
	m.clock.Advance(48 * time.Hour)
	if n, err := m.app.Reminders.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("reminders: %d %v", n, err)
	}
	var rem []db.Email
	for _, e := range m.emails(t, m.link.ID) {
		if e.Kind == db.KindReminder {
			rem = append(rem, e)
		}
	}
	if len(rem) != 1 || rem[0].Subject != "Still open: €9.50" || !strings.Contains(rem[0].Text, m.link.CheckoutURL) {
		t.Fatalf("reminder: %+v", rem)
	}
	// The link's email history says the reminder job queued it, not the
	// person who made the link (signed in again: two days have passed).
	a.login("admin@example.com")
	row := a.get(linkPath(m.link.ID)).find(`[data-testid=email-row][data-id="` + strconv.FormatInt(rem[0].ID, 10) + `"]`)
	if !strings.Contains(row.Text(), "by paylinks (an automatic reminder)") {
		t.Errorf("the reminder's row says %q", row.Text())
	}
}

// TestReminderAndNotificationSettings: admins set the reminder rule and the
// team addresses; a bad value is refused beside its field; the change is
// audited; a form without these fields leaves them alone.
func TestReminderAndNotificationSettings(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	b := e.browser()
	b.login("admin@example.com")
	base := func() url.Values {
		return url.Values{"successUrl": {"https://s.example/thanks"}, "supportUrl": {"https://s.example/h"},
			"exitUrl": {"https://s.example/e"}, "errorUrl": {"https://s.example/r"}, "defaultCurrency": {"EUR"}}
	}
	page := b.get("/admin/settings")
	if v, _ := page.find(`input[name="reminder.beforeHours"]`).Attr("value"); v != "24" ||
		page.find(`input[name="reminder.beforeOn"][checked]`).Length() != 1 {
		t.Fatalf("default rule not shown: hours %q", v)
	}
	bad := base()
	bad.Set("reminder.beforeOn", "on")
	bad.Set("reminder.beforeHours", "0")
	bad.Set("reminder.afterDays", "3")
	bad.Set("reminder.max", "2")
	bad.Set("notifyTeam", "team@acme.example\nnot an address")
	r := b.submit("/admin/settings", "/admin/settings", bad)
	if r.status() != http.StatusUnprocessableEntity || r.find(`[data-field="reminder.beforeHours"]`).Length() != 1 ||
		r.find(`[data-field="notifyTeam"]`).Length() != 1 {
		t.Fatalf("bad reminder settings: %d", r.status())
	}
	ok := base()
	ok.Set("reminder.beforeOn", "on")
	ok.Set("reminder.beforeHours", "48")
	ok.Set("reminder.afterOn", "on")
	ok.Set("reminder.afterDays", "5")
	ok.Set("reminder.max", "3")
	ok.Set("notifyTeam", "team@acme.example, boss@acme.example")
	if s := b.submit("/admin/settings", "/admin/settings", ok); s.status() != http.StatusSeeOther {
		t.Fatalf("save: %d", s.status())
	}
	ctx := context.Background()
	st, _ := e.store.GetSettings(ctx)
	want := db.ReminderRule{BeforeExpiry: true, BeforeHours: 48, AfterEmail: true, AfterDays: 5, Max: 3}
	if st.ReminderRule() != want || strings.Join(st.NotifyTeam, ",") != "team@acme.example,boss@acme.example" {
		t.Fatalf("saved: %+v %v", st.ReminderRule(), st.NotifyTeam)
	}
	entries, _ := e.store.ListAudit(ctx, 5)
	if !hasAudit(entries, "settings.change", "settings") || !strings.Contains(entries[0].Details, `"beforeHours":48`) {
		t.Fatalf("settings change not audited with the rule: %+v", entries[0])
	}
	if s := b.submit("/admin/settings", "/admin/settings", base()); s.status() != http.StatusSeeOther {
		t.Fatalf("save without reminder fields: %d", s.status())
	}
	if st, _ := e.store.GetSettings(ctx); st.ReminderRule() != want || len(st.NotifyTeam) != 2 {
		t.Fatalf("a form without the reminder fields changed them: %+v %v", st.ReminderRule(), st.NotifyTeam)
	}
}

// TestAccountNotificationChoice: each user picks immediately, digest or
// off on /account; anything else is refused.
func TestAccountNotificationChoice(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/account")
	if v, _ := p.find(`[data-testid=account-notifications] input[name=notify][checked]`).Attr("value"); v != db.NotifyImmediate {
		t.Fatalf("default choice shown as %q", v)
	}
	if s := b.submit("/account", "/account/notifications", url.Values{"notify": {"digest"}}); s.status() != http.StatusSeeOther {
		t.Fatalf("save: %d", s.status())
	}
	if got, _ := e.store.NotifyPreference(context.Background(), u.ID); got != db.NotifyDigest {
		t.Fatalf("stored %q", got)
	}
	if v, _ := b.get("/account").find(`input[name=notify][checked]`).Attr("value"); v != db.NotifyDigest {
		t.Fatalf("shown as %q after saving", v)
	}
	if s := b.submit("/account", "/account/notifications", url.Values{"notify": {"sometimes"}}); s.status() != http.StatusBadRequest {
		t.Fatalf("unknown choice: %d", s.status())
	}
	entries, _ := e.store.ListAudit(context.Background(), 5)
	if !hasAudit(entries, "user.notify", "") {
		t.Error("choice not audited")
	}
}

// TestLinkRemindersOverride: POST /links/:id/reminders gives a link its
// own rule or puts it back on the settings'; viewers may not; a bad rule
// changes nothing.
func TestLinkRemindersOverride(t *testing.T) {
	m := newMailEnv(t, true)
	ctx := context.Background()
	path := linkPath(m.link.ID) + "/reminders"
	own := url.Values{"mode": {"own"}, "afterOn": {"on"}, "beforeHours": {"12"}, "afterDays": {"2"}, "max": {"4"}}
	if s := m.b.submit("/account", path, own); s.status() != http.StatusSeeOther || !strings.HasSuffix(s.location(), "#reminders") {
		t.Fatalf("own rule: %d", s.status())
	}
	rs, _ := m.store.LinkReminders(ctx, m.link.ID)
	if rs.Override == nil || *rs.Override != (db.ReminderRule{AfterEmail: true, BeforeHours: 12, AfterDays: 2, Max: 4}) {
		t.Fatalf("override: %+v", rs.Override)
	}
	bad := url.Values{"mode": {"own"}, "beforeHours": {"x"}, "afterDays": {"2"}, "max": {"99"}}
	s := m.b.submit("/account", path, bad)
	if s.status() != http.StatusUnprocessableEntity || !strings.Contains(s.find("[data-testid=link-problem]").Text(), "Reminders not saved") {
		t.Fatalf("bad rule: %d %q", s.status(), s.find("[data-testid=link-problem]").Text())
	}
	// Each message by its field, the form open, everything typed kept.
	if s.find(`[data-field="beforeHours"]`).Length() != 1 || s.find(`[data-field="max"]`).Length() != 1 {
		t.Errorf("messages by the fields: %q", s.find("[data-testid=form-error]").Text())
	}
	if v, _ := s.find(`[data-testid=reminders-form] input[name="beforeHours"]`).Attr("value"); v != "x" {
		t.Errorf("typed hours lost: %q", v)
	}
	if _, open := s.find("[data-testid=reminders-change]").Attr("open"); !open {
		t.Error("the refused form is folded away")
	}
	if rs2, _ := m.store.LinkReminders(ctx, m.link.ID); *rs2.Override != *rs.Override {
		t.Fatal("a refused rule changed the link")
	}
	if s := m.b.submit("/account", path, url.Values{"mode": {"settings"}}); s.status() != http.StatusSeeOther {
		t.Fatalf("back to settings: %d", s.status())
	}
	if rs, _ := m.store.LinkReminders(ctx, m.link.ID); rs.Override != nil {
		t.Fatal("still its own rule")
	}
	m.addUser("viewer@example.com", paylink.RoleViewer)
	v := m.browser()
	v.login("viewer@example.com")
	if s := v.submit("/account", path, own); s.status() != http.StatusForbidden {
		t.Fatalf("viewer: %d", s.status())
	}
	entries, _ := m.store.ListAudit(ctx, 10)
	if !hasAudit(entries, "link.reminders", "link:"+strings.TrimPrefix(linkPath(m.link.ID), "/links/")) {
		t.Error("override not audited")
	}
}
