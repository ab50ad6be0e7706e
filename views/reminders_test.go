package views_test

import (
	"strings"
	"testing"

	"github.com/paylinks/paylinks/views"
)

func TestLinkReminders(t *testing.T) {
	p := views.LinkRemindersPanel{
		CSRF: "tok", Action: "/links/7/reminders", Own: true, Rule: "24 h before expiry, at most 2",
		Settings: "48 h before expiry, at most 1", Sent: 1, Max: 2, Next: "3 Dec 2026 09:00 UTC (in 2 days)",
		Values: map[string]string{"beforeOn": "on", "beforeHours": "24", "afterDays": "3", "max": "2"},
	}
	doc, _ := renderDoc(t, views.LinkReminders(p))
	if got := doc.Find("[data-testid=reminders-rule]").Text(); !strings.Contains(got, "24 h before expiry") || !strings.Contains(got, "this link's own") {
		t.Errorf("rule %q", got)
	}
	if got := doc.Find("[data-testid=reminders-sent]").Text(); got != "1 of at most 2" {
		t.Errorf("sent %q", got)
	}
	if got := doc.Find("[data-testid=reminders-next]").Text(); got != p.Next {
		t.Errorf("next %q", got)
	}
	form := doc.Find("form[data-testid=reminders-form]")
	if a, _ := form.Attr("action"); a != "/links/7/reminders" || form.Find(`input[name=_csrf][value=tok]`).Length() != 1 {
		t.Fatalf("form action %q", a)
	}
	if form.Find(`input[name=mode][value=own][checked]`).Length() != 1 || form.Find(`input[name=beforeOn][checked]`).Length() != 1 ||
		form.Find(`input[name=afterOn][checked]`).Length() != 0 {
		t.Error("form does not show the link's rule")
	}
	for _, name := range []string{"beforeHours", "afterDays", "max"} {
		if form.Find(`label[for=`+name+`]`).Length() != 1 {
			t.Errorf("%s has no label", name)
		}
	}

	p.Action, p.Next, p.Status = "", "", "Reminders start once the link is emailed to the customer."
	doc, _ = renderDoc(t, views.LinkReminders(p))
	if doc.Find("form").Length() != 0 {
		t.Error("a viewer gets the form")
	}
	if got := doc.Find("[data-testid=reminders-next]").Text(); !strings.Contains(got, "once the link is emailed") {
		t.Errorf("nothing due says %q", got)
	}
}

func TestReminderSettingsAndAccountNotifications(t *testing.T) {
	doc, _ := renderDoc(t, views.ReminderSettings(map[string]string{"reminder.max": "3", "notifyTeam": "a@x.example\nb@x.example"},
		views.FieldErrors{"reminder.max": "Enter a whole number from 0 to 10."}))
	if v, _ := doc.Find(`input[name="reminder.max"]`).Attr("value"); v != "3" || doc.Find(`[data-field="reminder.max"]`).Length() != 1 {
		t.Errorf("max %q", v)
	}
	if got := doc.Find("textarea[name=notifyTeam]").Text(); got != "a@x.example\nb@x.example" {
		t.Errorf("team %q", got)
	}
	doc, _ = renderDoc(t, views.AccountNotifications("tok", views.AccountNotify{Action: "/account/notifications", Choice: "off"}))
	if v, _ := doc.Find(`input[name=notify][checked]`).Attr("value"); v != "off" || doc.Find(`input[name=notify]`).Length() != 3 {
		t.Errorf("choice %q", v)
	}
}
