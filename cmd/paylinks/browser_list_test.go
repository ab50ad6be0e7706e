package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestBrowserList walks the links list as a work queue: Copy link on an
// open row, a row turning paid while the list stays open, Enter on an
// exact reference opening the link, and the list at desk and phone widths
// for each role, without sideways scrolling, with axe's checks.
func TestBrowserList(t *testing.T) {
	ctx := browserCtx(t)
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "paylinks.db"), "PAYLINKS_LOG_LEVEL": "warn"}
	base, _, _ := startServe(t, env)
	passwords := map[string]string{}
	for _, role := range []string{"admin", "finance", "viewer"} {
		passwords[role] = role + " list passphrase"
		if err := run(context.Background(), []string{"paylinks", "users", "create", "--email", role + "@example.com",
			"--name", "List " + role, "--role", role, "--password-stdin"}, envFrom(env),
			strings.NewReader(passwords[role]+"\n"), io.Discard, io.Discard); err != nil {
			t.Fatalf("create %s: %v", role, err)
		}
	}
	// Other links around ours: every status, long references.
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "80", "--force"}, envFrom(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: u.Scheme + "://" + u.Host,
		}); err != nil {
			t.Fatalf("clipboard permission %s: %v", name, err)
		}
	}
	signIn := func(tb *tab, role string) {
		tb.do(chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#email"),
			chromedp.SendKeys("#email", role+"@example.com"), chromedp.SendKeys("#password", passwords[role]),
			chromedp.Click("button[type=submit]"), chromedp.WaitVisible("[data-testid=current-user]"))
	}

	fin := newTab(t, ctx, "finance")
	signIn(fin, "finance")
	fin.do(chromedp.Navigate(base+"/links/new"), chromedp.WaitVisible("#userId"),
		chromedp.SendKeys("#userId", "CUST-LIST-1"), chromedp.SendKeys("#userEmail", "list@example.com"),
		chromedp.SetValue("#userCountryCode", "DE"), chromedp.SendKeys("#websiteReference", "INV-LIST-0001"),
		chromedp.SendKeys("#amount", "7.25\r"), chromedp.WaitVisible("[data-testid=checkout-url]"))
	linkPath := fin.location()
	id := path.Base(linkPath)
	checkout := eval[string](fin, `document.querySelector('[data-testid=checkout-url]').value`)
	row := `[data-testid=links-row][data-id="` + id + `"]`

	// Copy link from the row: the clipboard holds the checkout URL, the
	// button says Copied and the status region says it to screen readers.
	fin.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible(row+" [data-testid=copy-link]"))
	fin.do(chromedp.Click(row + " [data-testid=copy-link]"))
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`document.querySelector('`+row+` [data-testid=copy-link]').textContent.startsWith('Copied') &&
		document.querySelector('[data-testid=copy-status]').textContent.includes('copied')`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("Copy link shows %q, status region %q", fin.text(row+" [data-testid=copy-link]"), eval[string](fin, `document.querySelector('[data-testid=copy-status]').textContent`))
	}
	if got := eval[string](fin, `navigator.clipboard.readText()`, chromedp.EvalAwaitPromise); got != checkout {
		t.Errorf("clipboard holds %q, want the checkout URL %q", got, checkout)
	}
	if got := eval[string](fin, `document.querySelector('`+row+` [data-testid=open-link]').getAttribute('href')`); got != linkPath {
		t.Errorf("Open goes to %q, want %q", got, linkPath)
	}

	// The customer pays while the list is open: the row's badge turns
	// paid without a reload, and it offers no checkout any more.
	marker := eval[string](fin, `window.__listMarker = 'same-list'`)
	cu, _ := url.Parse(checkout)
	resp, err := http.Post(cu.Scheme+"://"+cu.Host+"/_sandbox/sessions/"+path.Base(cu.Path)+"/outcome", "application/json", strings.NewReader(`{"outcome":"pay"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("sandbox pay: %s", resp.Status)
	}
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`['paid', 'settled'].includes(document.querySelector('`+row+` [data-testid=link-status]').textContent.trim())`,
		chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		t.Fatalf("the row did not turn paid: %q", fin.text(row+" [data-testid=link-status]"))
	}
	if eval[string](fin, `window.__listMarker || ''`) != marker {
		t.Error("the list was reloaded")
	}
	if eval[int](fin, `document.querySelectorAll('`+row+` [data-testid=copy-link]').length`) != 0 {
		t.Error("the paid row still offers Copy link")
	}
	// Links made meanwhile are not slipped in: a bar offers them.
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "2", "--force"}, envFrom(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`(document.querySelector('[data-testid=new-links]') || {}).textContent === '2 new links since you opened this listShow'`,
		chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		t.Errorf("no new links bar: %q", eval[string](fin, `document.querySelector('[data-testid=new-links]').textContent`))
	}
	if eval[string](fin, `document.querySelector('[data-testid=links-row]').getAttribute('data-id')`) != id {
		t.Error("the new links were put above the list's first row")
	}
	if eval[string](fin, `window.__listMarker || ''`) != marker {
		t.Error("the list was reloaded")
	}
	fin.check("list-new-links")

	// Enter on the exact website reference opens the link (JavaScript on).
	fin.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible("[data-testid=search-input]"),
		chromedp.SendKeys("[data-testid=search-input]", "INV-LIST-0001\r"), chromedp.WaitVisible("[data-testid=link-actions]"))
	if got := fin.location(); got != linkPath {
		t.Errorf("Enter on the exact reference went to %s, want %s", got, linkPath)
	}

	// Every role's list fits the window at desk and phone widths.
	tabs := map[string]*tab{"finance": fin}
	for _, role := range []string{"admin", "finance", "viewer"} {
		tb := tabs[role]
		if tb == nil {
			rctx := browserCtx(t)
			tb = newTab(t, rctx, role)
			signIn(tb, role)
		}
		switch role {
		case "admin":
			// The admin saves the Needs attention tab as a view and shares
			// it with the team.
			tb.do(chromedp.Navigate(base+"/links?attention=1"), chromedp.WaitVisible("[data-testid=saved-views]"),
				chromedp.Click(".save-view summary"), chromedp.WaitVisible("#view-name"),
				chromedp.SendKeys("#view-name", "To look at today\r"), chromedp.WaitVisible("[data-testid=saved-view]"),
				chromedp.Click(".manage-views summary"), chromedp.WaitVisible("[data-testid=share-view]"),
				chromedp.Click("[data-testid=share-view]"), chromedp.WaitVisible("[data-testid=saved-view-shared]"))
		case "viewer":
			tb.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible("[data-testid=links-table]"))
			if got := tb.text("[data-testid=saved-view]"); !strings.Contains(got, "To look at today") || !strings.Contains(got, "Shared") {
				t.Errorf("the viewer's saved views read %q, want the admin's shared view", got)
			}
		}
		tb.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible("[data-testid=links-table]"))
		for _, w := range []int64{1280, 375} {
			tb.do(chromedp.EmulateViewport(w, 900))
			if !eval[bool](tb, `document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Errorf("%s at %d px: the page scrolls sideways (%d > %d)", role, w,
					eval[int](tb, `document.documentElement.scrollWidth`), eval[int](tb, `window.innerWidth`))
			}
			// Nor does the table need its own scrolling: every column shows.
			if !eval[bool](tb, `[...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth)`) {
				t.Errorf("%s at %d px: the table scrolls sideways inside the page", role, w)
			}
			// A reference never runs over five lines.
			lines := eval[float64](tb, `Math.max(0, ...[...document.querySelectorAll('[data-testid=links-row] .col-wref, [data-testid=links-row] .col-smref')]
				.filter(td => td.offsetParent).map(td => td.getBoundingClientRect().height / parseFloat(getComputedStyle(td).lineHeight)))`)
			if lines > 5.5 {
				t.Errorf("%s at %d px: a reference runs over %.1f lines", role, w, lines)
			}
		}
		tb.check("list-" + role)
	}
}
