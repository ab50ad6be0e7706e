package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserImport is month-end in a browser: download the template, fill
// it in, upload it, see the bad row's message in its cell, upload the
// corrected file, create the links, watch the progress page fill in by
// itself, and download the result. Screenshots at 1280 and 375 px.
func TestBrowserImport(t *testing.T) {
	ctx := browserCtx(t)
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "paylinks.db"), "PAYLINKS_LOG_LEVEL": "warn"}
	base, stdout, _ := startServe(t, env)
	setup := regexp.MustCompile(`(http://\S+/setup\?token=\S+)`).FindStringSubmatch(stdout.String())
	if setup == nil {
		t.Fatalf("no setup link:\n%s", stdout.String())
	}
	admin := newTab(t, ctx, "admin")
	admin.do(chromedp.Navigate(setup[1]), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "Grace Hopper"), chromedp.SendKeys("#email", "grace@example.com"),
		chromedp.SendKeys("#password", "first admin passphrase"), chromedp.SendKeys("#password2", "first admin passphrase"),
		chromedp.Click("button[type=submit]"), chromedp.WaitVisible("[data-testid=current-user]"))

	admin.do(chromedp.Navigate(base+"/links"), chromedp.WaitVisible("[data-testid=import-links]"),
		chromedp.Click("[data-testid=import-links]"), chromedp.WaitVisible("#file"))
	admin.check("import-upload")

	// The template, as the download link serves it.
	href := eval[string](admin, `document.querySelector('[data-testid=template-csv]').href`)
	template := eval[string](admin, `fetch(`+jsString(href)+`).then(r => r.text())`, chromedp.EvalAwaitPromise)
	template = strings.TrimPrefix(template, "\uFEFF")
	if !strings.HasPrefix(template, "userId,userEmail,userCountryCode,currency,amount,websiteReference,note,") {
		t.Fatalf("template %q", template)
	}
	dir := t.TempDir()
	write := func(name, rows string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(template+rows), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	row := func(id, country, amount, ref string) string {
		return id + ",c-" + id + "@example.com," + country + ",EUR," + amount + "," + ref + ",November,,,,,,,,,no\n"
	}
	bad := write("november.csv", row("C-1", "DE", "5", "INV-1")+row("C-2", "XX", "7.50", "INV-2")+row("C-3", "FR", "2.25", "INV-3"))
	admin.do(chromedp.SetUploadFiles("#file", []string{bad}), chromedp.Click("[data-testid=upload]"),
		chromedp.WaitVisible("[data-testid=preview-table]"))
	if got := admin.text(`[data-testid=preview-row][data-line="3"] [data-testid=cell-error]`); !strings.Contains(got, "ISO 3166-1") {
		t.Errorf("the bad row's message: %q", got)
	}
	admin.check("import-check")

	// Fix the row in the file and upload it again.
	fixed := write("november.csv", row("C-1", "DE", "5", "INV-1")+row("C-2", "NL", "7.50", "INV-2")+row("C-3", "FR", "2.25", "INV-3"))
	admin.do(chromedp.Navigate(base+"/links/import"), chromedp.WaitVisible("#file"),
		chromedp.SetUploadFiles("#file", []string{fixed}), chromedp.Click("[data-testid=upload]"),
		chromedp.WaitVisible("[data-testid=confirm]"))
	if got := admin.text("[data-testid=confirm]"); got != "Create 3 links" {
		t.Fatalf("button %q", got)
	}
	admin.do(chromedp.Click("[data-testid=confirm]"), chromedp.WaitVisible("[data-testid=import-counts]"))
	// The page fills in by itself (the import job, then the live part).
	deadline := time.Now().Add(60 * time.Second)
	for admin.text("[data-testid=count-minted]") != "3" {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %s", admin.text("[data-testid=import-counts]"))
		}
		admin.do(chromedp.Sleep(500 * time.Millisecond))
	}
	if got := admin.text("[data-testid=import-state]"); !strings.Contains(got, "Finished") {
		t.Errorf("state %q", got)
	}
	admin.check("import-progress")
	res := eval[string](admin, `fetch(document.querySelector('[data-testid=result-csv]').href).then(r => r.text())`, chromedp.EvalAwaitPromise)
	if strings.Count(res, "Link made") != 3 || !strings.Contains(res, "checkoutUrl") {
		t.Errorf("result:\n%s", res)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
