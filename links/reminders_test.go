package links_test

import (
	"context"
	"testing"

	"github.com/paylinks/paylinks/db"
)

// TestCreateTakesTheLinksOwnReminderRule: a draft may carry its own
// reminder rule (the API and bulk import); a bad one is refused with the
// draft's other problems, and nothing is stored.
func TestCreateTakesTheLinksOwnReminderRule(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	bad := draft("INV-R1")
	bad.Reminders = &db.ReminderRule{BeforeExpiry: true, BeforeHours: 0, AfterDays: 3, Max: 99}
	if _, errs, err := m.minter.Create(ctx, bad, m.user, db.AuditEntry{Action: "link.create"}); err != nil ||
		errs["reminders.beforeHours"] == "" || errs["reminders.max"] == "" {
		t.Fatalf("bad rule: %v %v", errs, err)
	}
	good := draft("INV-R2")
	rule := db.ReminderRule{AfterEmail: true, AfterDays: 2, BeforeHours: 24, Max: 3}
	good.Reminders = &rule
	l, errs, err := m.minter.Create(ctx, good, m.user, db.AuditEntry{Action: "link.create"})
	if err != nil || errs != nil {
		t.Fatalf("create: %v %v", errs, err)
	}
	rs, err := m.st.LinkReminders(ctx, l.ID)
	if err != nil || rs.Override == nil || *rs.Override != rule {
		t.Fatalf("the link's rule: %+v %v", rs.Override, err)
	}
	plain, _, err := m.minter.Create(ctx, draft("INV-R3"), m.user, db.AuditEntry{Action: "link.create"})
	if err != nil {
		t.Fatal(err)
	}
	if rs, _ := m.st.LinkReminders(ctx, plain.ID); rs.Override != nil || rs.Rule != db.DefaultReminderRule {
		t.Fatalf("a link without its own rule: %+v", rs)
	}
}
