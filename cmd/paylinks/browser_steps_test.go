package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserAfterPay waits, on the link page the finance user left open, for
// the status to become paid (or settled) from the sandbox's webhooks,
// without reloading the page.
func browserAfterPay(t *testing.T, fin *tab) {
	t.Helper()
	marker := eval[string](fin, `window.__pageMarker = 'same-page'`)
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`['paid', 'settled'].includes(document.querySelector('[data-testid=link-status]').textContent.trim())`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the link page did not turn paid: status %q", fin.text("[data-testid=link-status]"))
	}
	if eval[string](fin, `window.__pageMarker || ''`) != marker {
		t.Fatal("the page was reloaded")
	}
	if n := eval[int](fin, `document.querySelectorAll('[data-testid=timeline-entry]').length`); n < 4 {
		t.Errorf("timeline shows %d entries after the payment", n)
	}
	fin.check("link-paid")
}

// browserEmail emails the link to the customer and finds the message in the
// local mailbox (no SMTP server in the demo).
func browserEmail(t *testing.T, fin, admin *tab, base, linkPath string) {
	t.Helper()
	fin.do(chromedp.Click("[data-testid=email-compose]"), chromedp.WaitVisible("[data-testid=email-preview]"))
	fin.check("email-compose")
	fin.do(chromedp.Click("[data-testid=email-send]"), chromedp.WaitVisible("[data-testid=email-state]"))
	// The worker sends after the commit; reload until it reports.
	deadline := time.Now().Add(15 * time.Second)
	for {
		state := eval[string](fin, `(document.querySelector('[data-testid=email-state]') || {}).textContent || ''`)
		if strings.Contains(strings.ToLower(state), "mailbox") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("email state %q, want kept in the local mailbox", state)
		}
		time.Sleep(300 * time.Millisecond)
		fin.do(chromedp.Navigate(base+linkPath), chromedp.WaitVisible("[data-testid=email-state]"))
	}
	fin.check("link-emailed")
	admin.do(chromedp.Navigate(base+"/admin/mailbox"), chromedp.WaitVisible("[data-testid=mailbox-table]"))
	if got := admin.text("[data-testid=mailbox-table]"); !strings.Contains(got, "ada@example.com") {
		t.Fatalf("mailbox does not list the email: %q", got)
	}
	admin.check("mailbox")
}
