package outbox

import (
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

func TestBlockerEmailsOnlyAnOpenLinkWithAFutureCheckout(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	open := db.Link{Status: paylink.StatusOpen, CheckoutURL: "https://checkout.example/x", ExpiresAt: now.Add(time.Hour)}
	if why := Blocker(open, now); why != "" {
		t.Fatalf("an open link is blocked: %q", why)
	}
	noExpiry := open
	noExpiry.ExpiresAt = time.Time{}
	if why := Blocker(noExpiry, now); why != "" {
		t.Fatalf("an open link without a known expiry is blocked: %q", why)
	}
	for _, s := range paylink.Statuses {
		if s == paylink.StatusOpen {
			continue
		}
		l := open
		l.Status = s
		if why := Blocker(l, now); why == "" {
			t.Errorf("a %s link may be emailed", s)
		}
	}
	noURL := open
	noURL.CheckoutURL = ""
	past := open
	past.ExpiresAt = now
	for name, c := range map[string]struct {
		l    db.Link
		says string
	}{"no checkout URL": {noURL, "no checkout link"}, "expiry reached": {past, "expired on 5 Dec 2026 12:00 UTC"}} {
		if why := Blocker(c.l, now); !strings.Contains(why, c.says) {
			t.Errorf("%s: %q, want it to say %q", name, why, c.says)
		}
	}
}

func TestDefaultBackoffStaysWithinTenPercent(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Minute, 2: 5 * time.Minute, 7: 4 * time.Hour, 99: 4 * time.Hour} {
		for range 200 {
			got := DefaultBackoff(attempt)
			if got < want-want/10 || got > want+want/10 {
				t.Fatalf("attempt %d: %v, want %v ± 10%%", attempt, got, want)
			}
		}
	}
}
