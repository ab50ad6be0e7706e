package main

import (
	"net/http"
	"net/url"
	"path"
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
	// The action area was redrawn for the payment: what was received and
	// when, and no checkout, QR code, email or cancel any more.
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`!!document.querySelector('[data-testid=actions-paid]')`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatal("the paid link page does not show the payment")
	}
	for _, gone := range []string{"checkout-url", "qr", "email-compose", "cancel"} {
		if eval[int](fin, `document.querySelectorAll('[data-testid=`+gone+`]').length`) != 0 {
			t.Errorf("a paid link still offers %s", gone)
		}
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

// browserProcessing: StableMint reports that the customer started paying
// (the sandbox's control sends the deposit's first event); the link page
// left open turns processing without a reload, and stops offering the
// checkout URL, QR code and email, but still offers cancel with a warning.
func browserProcessing(t *testing.T, fin *tab, checkout string) {
	t.Helper()
	u, err := url.Parse(checkout)
	if err != nil {
		t.Fatal(err)
	}
	ref := path.Base(u.Path)
	resp, err := http.Post(u.Scheme+"://"+u.Host+"/_sandbox/sessions/"+ref+"/send", "application/json",
		strings.NewReader(`{"events":["partner.customer.deposit.created"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("sandbox control: %s", resp.Status)
	}
	marker := eval[string](fin, `window.__pageMarker = 'before-processing'`)
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`document.querySelector('[data-testid=link-status]').textContent.trim() === 'processing' &&
		!!document.querySelector('[data-testid=actions-processing]')`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the link page did not turn processing: status %q", fin.text("[data-testid=link-status]"))
	}
	if eval[string](fin, `window.__pageMarker || ''`) != marker {
		t.Fatal("the page was reloaded")
	}
	for _, gone := range []string{"checkout-url", "qr", "email-compose", "copy-url"} {
		if eval[int](fin, `document.querySelectorAll('[data-testid=`+gone+`]').length`) != 0 {
			t.Errorf("a processing link still offers %s", gone)
		}
	}
	if !strings.Contains(eval[string](fin, `document.querySelector('[data-testid=cancel-warning]').textContent`), "already under way") {
		t.Error("cancel on a processing link does not warn that the payment may still complete")
	}
	fin.check("link-processing")
}

// browserCancel: finance makes a second link and cancels it with a reason,
// from the keyboard; the page says why, by whom and that the checkout page
// may still take a payment, and offers re-issue instead of the checkout.
func browserCancel(t *testing.T, fin *tab, base string) {
	t.Helper()
	fin.do(chromedp.Navigate(base+"/links/new"), chromedp.WaitVisible("#userId"),
		chromedp.SendKeys("#userId", "CUST-7"), chromedp.SendKeys("#userEmail", "zoe@example.com"),
		chromedp.SetValue("#userCountryCode", "FR"), chromedp.SendKeys("#websiteReference", "INV-WITHDRAWN-7"),
		chromedp.SendKeys("#amount", "4.20\r"), chromedp.WaitVisible("[data-testid=checkout-url]"))
	fin.do(chromedp.Click("[data-testid=cancel] summary"), chromedp.WaitVisible("#cancel-reason"))
	fin.check("link-cancel-form")
	fin.do(chromedp.SetValue("#cancel-reason", "wrong_details"), chromedp.SendKeys("#cancel-reasonText", "amount should be 42.00\r"),
		chromedp.WaitVisible("[data-testid=actions-ended]"))
	if got := fin.text("[data-testid=link-status]"); got != "cancelled" {
		t.Fatalf("status after cancel: %q", got)
	}
	if got := fin.text("[data-testid=ended]"); !strings.Contains(got, "Wrong amount or details — amount should be 42.00") {
		t.Errorf("the cancelled page says %q", got)
	}
	if !strings.Contains(fin.text("[data-testid=still-payable]"), "may still accept a payment until") {
		t.Error("the cancelled page does not say its checkout page may still take a payment")
	}
	if eval[int](fin, `document.querySelectorAll('[data-testid=checkout-url], [data-testid=qr], [data-testid=email-compose]').length`) != 0 {
		t.Error("a cancelled link still offers its checkout or email")
	}
	fin.check("link-cancelled")
}

// browserEveryStatus screenshots a link of each status (seeded ones, and
// the story's cancelled one) as an admin sees it, with axe's checks.
func browserEveryStatus(t *testing.T, admin *tab, base string) {
	t.Helper()
	for _, st := range []string{"error", "open", "processing", "paid", "settled", "failed", "expired", "cancelled"} {
		admin.do(chromedp.Navigate(base+"/links?status="+st), chromedp.WaitVisible("[data-testid=links-table]"),
			chromedp.Click("[data-testid=links-row] td.num a"), chromedp.WaitVisible("[data-testid=link-actions]"))
		if got := admin.text("[data-testid=link-status]"); got != st {
			t.Fatalf("the first %s link is %s", st, got)
		}
		admin.check("status-" + st)
	}
}

// browserDashboard opens the dashboard once links exist (the story's and
// the seeded ones), with axe's checks, and makes sure nothing on it is
// wider than the window at 1280 or 375 pixels: the period tables fit,
// with no sideways scrolling (#18).
func browserDashboard(t *testing.T, admin *tab, base string) {
	t.Helper()
	admin.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible("[data-testid=period-table]"))
	for _, w := range []int64{1280, 375} {
		admin.do(chromedp.EmulateViewport(w, 900))
		wide := eval[[]string](admin, `[...document.querySelectorAll('main *')]
			.filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 || e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
			.map(e => e.tagName + (e.dataset.testid ? '[' + e.dataset.testid + ']' : '') + '.' + e.className)`)
		if len(wide) > 0 {
			t.Errorf("dashboard at %d px: wider than the window or scrolling sideways: %v", w, wide)
		}
	}
	admin.do(chromedp.EmulateViewport(1280, 900))
	admin.check("dashboard-figures")
}
