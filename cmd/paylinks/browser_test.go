package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

//go:embed testdata/axe/axe.min.js
var axeSource string

// chromiumPath finds Debian's Chromium. Browser tests run whenever it is
// installed; without it they are skipped with a message, unless
// PAYLINKS_REQUIRE_BROWSER=1 (CI sets it), which makes the skip a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PAYLINKS_REQUIRE_BROWSER") == "1" {
		t.Fatal("Chromium is required (PAYLINKS_REQUIRE_BROWSER=1) but not installed: apt-get install -y chromium")
	}
	t.Skip("SKIPPED browser test: Chromium is not installed (apt-get install -y chromium); set PAYLINKS_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// tab is one browser tab of the story with the checks every visit gets.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
}

// browserCtx starts headless Chromium with a fresh profile.
func browserCtx(t *testing.T) context.Context {
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// Start the browser now, so every tab opened from ctx shares it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newTab opens a tab that records CSP violations from its first byte.
func newTab(t *testing.T, parent context.Context, name string) *tab {
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, name: name}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	return tb
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

func eval[T any](tb *tab, js string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		tb.t.Fatalf("%s: eval %.60q: %v", tb.name, js, err)
	}
	return v
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(sel))
	if err != nil {
		tb.t.Fatalf("%s: text of %s: %v", tb.name, sel, err)
	}
	return strings.TrimSpace(s)
}

func (tb *tab) location() string { return eval[string](tb, "location.pathname + location.search") }

// check screenshots the page at 1280 and 375 pixels, light and dark, into
// artifacts/, runs axe-core (fails on any violation, whatever its impact)
// and fails on any CSP violation seen since the page loaded.
func (tb *tab) check(page string) {
	tb.t.Helper()
	dir := filepath.Join("..", "..", "artifacts", "browser")
	_ = os.MkdirAll(dir, 0o755)
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			tb.t.Fatalf("emulate %s: %v", scheme, err)
		}
		for _, w := range []int64{1280, 375} {
			tb.do(chromedp.EmulateViewport(w, 900))
			buf, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				tb.t.Fatalf("screenshot %s: %v", page, err)
			}
			name := fmt.Sprintf("%s-%d.png", page, w)
			if scheme == "dark" {
				name = fmt.Sprintf("%s-%d-dark.png", page, w)
			}
			_ = os.WriteFile(filepath.Join(dir, name), buf, 0o644)
		}
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
	}); err != nil {
		tb.t.Fatal(err)
	}
	tb.do(chromedp.EmulateViewport(1280, 900))
	eval[any](tb, axeSource+"; true")
	raw := eval[string](tb, `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
		r.violations
		 .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise)
	var violations []map[string]any
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		tb.t.Fatalf("axe result: %v", err)
	}
	for _, v := range violations {
		tb.t.Errorf("accessibility (%s) on %s: %v %v: %v", v["impact"], page, v["id"], v["help"], v["nodes"])
	}
	if csp := eval[[]string](tb, "window.__csp || []"); len(csp) > 0 {
		tb.t.Errorf("CSP violations on %s: %v", page, csp)
	}
}

func TestBrowserStory(t *testing.T) {
	ctx := browserCtx(t)
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "paylinks.db"), "PAYLINKS_LOG_LEVEL": "warn"}
	base, stdout, _ := startServe(t, env)
	setup := regexp.MustCompile(`(http://\S+/setup\?token=\S+)`).FindStringSubmatch(stdout.String())
	if setup == nil {
		t.Fatalf("no setup link:\n%s", stdout.String())
	}

	admin := newTab(t, ctx, "admin")
	// First run: the setup link creates the first admin.
	admin.do(chromedp.Navigate(setup[1]), chromedp.WaitVisible("#name"))
	admin.check("setup")
	admin.do(chromedp.SendKeys("#name", "Grace Hopper"), chromedp.SendKeys("#email", "grace@example.com"),
		chromedp.SendKeys("#password", "first admin passphrase"), chromedp.SendKeys("#password2", "first admin passphrase"),
		chromedp.Click("button[type=submit]"), chromedp.WaitVisible("[data-testid=current-user]"))
	if got := admin.text("[data-testid=sandbox-banner]"); !strings.Contains(got, "no real money moves") {
		t.Errorf("sandbox banner %q", got)
	}
	admin.check("dashboard")

	// The admin creates a finance user and a viewer; each gets a one-time password.
	oneTime := func(name, email, role string) string {
		admin.do(chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible("#name"),
			chromedp.SendKeys("#name", name), chromedp.SendKeys("#email", email),
			chromedp.SetValue("#role", role),
			chromedp.Click(`form[action="/admin/users"] button[type=submit]`), chromedp.WaitVisible("[data-testid=secret]"))
		return admin.text("[data-testid=secret]")
	}
	finPW := oneTime("Fin Ance", "fin@example.com", "finance")
	admin.check("users")
	viewerPW := oneTime("Vi Ewer", "viewer@example.com", "viewer")

	// A second browser profile for the finance user (its own cookies).
	fctx := browserCtx(t)
	fin := newTab(t, fctx, "finance")
	signIn := func(tb *tab, email, pw string) {
		tb.do(chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#email"),
			chromedp.SendKeys("#email", email), chromedp.SendKeys("#password", pw),
			chromedp.Click("button[type=submit]"), chromedp.WaitVisible("[data-testid=current-user]"))
	}
	signIn(fin, "fin@example.com", finPW)
	fin.check("account-must-change")
	fin.do(chromedp.SendKeys("#current", finPW), chromedp.SendKeys("#password", "finance own passphrase"),
		chromedp.SendKeys("#password2", "finance own passphrase"), chromedp.Click(`form[action="/account/password"] button[type=submit]`),
		chromedp.WaitVisible("[data-testid=flash]"))

	// The new-link form with a mistake: the message sits beside the field and
	// everything typed is kept.
	fin.do(chromedp.Navigate(base+"/links/new"), chromedp.WaitVisible("#userId"))
	fin.check("link-new")
	// Enter in a field submits the form as Create payment link (not the
	// custom field's Remove, which comes earlier on the page than the
	// bottom button).
	fin.do(chromedp.SendKeys("#userId", "CUST-42"), chromedp.SendKeys("#userEmail", "ada@example.com"),
		chromedp.SetValue("#userCountryCode", "DE"), chromedp.SendKeys("#amount", "9.999"),
		chromedp.SendKeys("#cf-key-0", "plan"),
		chromedp.SendKeys("#websiteReference", "INV-BROWSER-0042\r"), chromedp.WaitVisible(`[data-testid=form-error][data-field="amount"]`))
	fin.check("link-new-error")
	if v := eval[string](fin, `document.querySelector('#websiteReference').value`); v != "INV-BROWSER-0042" {
		t.Fatalf("typed reference lost: %q", v)
	}
	// The refused submit puts focus on the summary, whose line for the
	// amount takes focus to the amount field.
	if !eval[bool](fin, `document.activeElement.matches('[data-error-summary]')`) {
		t.Fatalf("focus after a refused submit is on %s, want the error summary", eval[string](fin, `document.activeElement.outerHTML.slice(0, 80)`))
	}
	fin.do(chromedp.Click(`[data-error-summary] a[href="#amount"]`))
	if id := eval[string](fin, `document.activeElement.id`); id != "amount" {
		t.Fatalf("the summary's link focused %q, want the amount field", id)
	}
	// An amount written with its currency sign, and Enter in the amount.
	fin.do(chromedp.SetValue("#amount", "€9,50"), chromedp.SendKeys("#amount", "\r"), chromedp.WaitVisible("[data-testid=checkout-url]"))
	if got := fin.text("[data-testid=link-status]"); got != "open" {
		t.Fatalf("status %q after minting", got)
	}
	if eval[int](fin, `document.querySelectorAll('[data-testid=copy-url]').length`) != 1 {
		t.Error("no Copy button")
	}
	fin.check("link-open")
	linkPath := fin.location()
	checkout := eval[string](fin, `document.querySelector('[data-testid=checkout-url]').value`)

	// Email it to the customer: with no SMTP server it is kept in the local
	// mailbox, and the link says so. (Only open links can be emailed, so this
	// comes before the payment.)
	browserEmail(t, fin, admin, base, linkPath)

	// The customer pays on the sandbox's checkout page, in another tab; the
	// link page, left open, turns paid without a reload.
	fin.do(chromedp.Navigate(base+linkPath), chromedp.WaitVisible("[data-testid=link-status]"))
	browserProcessing(t, fin, checkout)
	customer := newTab(t, fctx, "customer")
	customer.do(chromedp.Navigate(checkout))
	customer.do(chromedp.WaitVisible(`[data-testid=pay]`))
	customer.check("sandbox-checkout")
	customer.do(chromedp.Click(`[data-testid=pay]`))
	customer.do(chromedp.WaitVisible("[data-testid=customer-page]"))
	customer.check("customer-success")
	browserAfterPay(t, fin)
	browserCancel(t, fin, base)

	// Search by the website reference finds it first.
	fin.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible("[data-testid=search-input]"),
		chromedp.SendKeys("[data-testid=search-input]", "INV-BROWSER"), chromedp.Sleep(100*time.Millisecond))
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`document.querySelectorAll('[data-testid=links-row]').length === 1 &&
		document.querySelector('[data-testid=links-row]').textContent.includes('INV-BROWSER-0042')`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("search for the website reference: %v", err)
	}
	// htmx pushes the URL just after the swap.
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`location.search.includes('q=INV-BROWSER')`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("live search did not update the URL: %s", fin.location())
	}
	// Clear comes with the live results (out of band), not only on a reload.
	if _, err := chromedp.Run(fin.ctx, chromedp.Poll[bool](`!!document.querySelector('[data-testid=search-form] [data-testid=clear]')`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("no Clear after a live search")
	}
	fin.check("links-search")
	// Export CSV: the download holds that row.
	csv := eval[string](fin, `fetch(document.querySelector('[data-testid=export-csv]').href).then(r => r.text())`, chromedp.EvalAwaitPromise)
	if !strings.Contains(csv, "INV-BROWSER-0042") || !strings.HasPrefix(csv, "id,status,amount") {
		t.Errorf("CSV export:\n%.300s", csv)
	}

	// Sign out; another tab of the same browser lands on the login page at
	// its next action.
	other := newTab(t, fctx, "finance-other-tab")
	other.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible("[data-testid=search-input]"))
	fin.do(chromedp.Click("[data-testid=logout]"), chromedp.WaitVisible("#email"))
	fin.check("signed-out")
	other.do(chromedp.Click(`a[href="/account"]`), chromedp.WaitVisible("#email"))
	if !strings.HasPrefix(other.location(), "/login") {
		t.Errorf("old tab after sign-out is at %s", other.location())
	}

	// A viewer sees no "New link" anywhere and the form answers 403.
	vctx := browserCtx(t)
	viewer := newTab(t, vctx, "viewer")
	signIn(viewer, "viewer@example.com", viewerPW)
	viewer.do(chromedp.SendKeys("#current", viewerPW), chromedp.SendKeys("#password", "viewer own passphrase"),
		chromedp.SendKeys("#password2", "viewer own passphrase"), chromedp.Click(`form[action="/account/password"] button[type=submit]`),
		chromedp.WaitVisible("[data-testid=flash]"))
	for _, p := range []string{"/", "/links", linkPath} {
		viewer.do(chromedp.Navigate(base+p), chromedp.WaitVisible("#main"))
		if n := eval[int](viewer, `[...document.querySelectorAll('a, button')].filter(e => /new link/i.test(e.textContent)).length`); n != 0 {
			t.Errorf("viewer sees a New link control on %s", p)
		}
	}
	viewer.check("viewer-link")
	status := eval[int](viewer, `fetch('/links/new').then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != 403 {
		t.Errorf("viewer GET /links/new: %d, want 403", status)
	}

	// A reference prefix that many links share lists its first page at
	// once; htmx then loads the total into it.
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "120", "--force"}, envFrom(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	viewer.do(chromedp.Navigate(base+"/links?q=INV-202"), chromedp.WaitVisible("[data-testid=links-table]"))
	if _, err := chromedp.Run(viewer.ctx, chromedp.Poll[bool](`document.querySelectorAll('[data-testid=links-row]').length === 50 &&
		document.querySelector('[data-testid=total]').textContent.trim().replace(/\s+/g, ' ') === '1–50 of 120'`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("the prefix's total did not load: %q", viewer.text("[data-testid=total]"))
	}
	viewer.check("links-prefix")
	browserEveryStatus(t, admin, base)
	browserDashboard(t, admin, base)
}
