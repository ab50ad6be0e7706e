package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/paylinks/paylinks/internal/testkit"
)

// dashLink is one link the dashboard test makes through the form and
// then, unless outcome is "", pays or fails at the sandbox's checkout.
type dashLink struct {
	currency, amount, outcome string
}

// dashLinks: EUR is paid most, so the dashboard opens on it; GBP is the
// currency the clerk picks. GBP's figures are, from these: outstanding
// £6.15 (2 open), collected £10.50 (2 paid), paid rate 2 of 3 (1 failed),
// and £10.50 from 2 links on the day they were paid in the chart.
var dashLinks = []dashLink{
	{"EUR", "9.50", "pay"}, {"EUR", "8.00", "pay"}, {"EUR", "6.40", "pay"}, {"EUR", "4.00", ""},
	{"GBP", "7.20", "pay"}, {"GBP", "3.30", "pay"}, {"GBP", "2.15", "fail"}, {"GBP", "5.05", ""}, {"GBP", "1.10", ""},
}

// keyFigure is what one key figure's box shows.
type keyFigure struct{ value, note string }

// TestBrowserDashboard is a finance clerk using the dashboard's currency
// picker: from the keyboard, with and without JavaScript. The key figures
// and the chart's table follow the pick (checked against the links made
// here), the pick is in the URL and survives a reload, an unknown currency
// falls back with a message, and the picked page passes axe and fits 1280
// and 375 pixels (screenshots in artifacts/browser, tab.check).
func TestBrowserDashboard(t *testing.T) {
	ctx := browserCtx(t)
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "paylinks.db"), "PAYLINKS_LOG_LEVEL": "warn"}
	if err := run(context.Background(), []string{"paylinks", "users", "create", "--email", "finance@example.com", "--name", "Pat Finance",
		"--role", "finance", "--password-stdin"}, envFrom(env), strings.NewReader(sitePassword+"\n"), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := &site{emails: map[string]string{"finance": "finance@example.com"}}
	s.base, _, _ = startServe(t, env)
	fin := s.client(t, "finance")
	for i, l := range dashLinks {
		ref := "INV-DASH-" + l.currency + "-" + string(rune('A'+i))
		resp := fin.submit(t, "/links/new", "form[action='/links']", url.Values{
			"userId": {"CUST-" + ref}, "userEmail": {"ada@example.com"}, "userCountryCode": {"GB"},
			"currency": {l.currency}, "amount": {l.amount}, "websiteReference": {ref},
		})
		p := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/links/\d+$`).MatchString(p) {
			t.Fatalf("new link %s: %d %s", ref, resp.StatusCode, p)
		}
		if l.outcome == "" {
			continue
		}
		checkout, _ := fin.get(t, p).Find("[data-testid=checkout-url]").Attr("value")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
			PostForm(checkout, url.Values{"outcome": {l.outcome}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := map[string][]string{"pay": {"paid", "settled"}, "fail": {"failed"}}[l.outcome]
		testkit.WaitFor(t, ref+" "+want[0], func() bool {
			st := strings.TrimSpace(fin.get(t, p).Find("[data-testid=link-status]").First().Text())
			return st == want[0] || len(want) > 1 && st == want[1]
		})
	}
	paidDay := time.Now().UTC().Format("2 Jan")

	clerk := newTab(t, ctx, "finance")
	clerk.do(chromedp.Navigate(s.base+"/login"), chromedp.WaitVisible("#email"),
		chromedp.SendKeys("#email", s.emails["finance"]), chromedp.SendKeys("#password", sitePassword),
		chromedp.Click("button[type=submit]"), chromedp.WaitVisible("[data-testid=current-user]"))
	clerk.do(chromedp.Navigate(s.base+"/"), chromedp.WaitVisible("[data-testid=key-figures]"))
	dashShows(t, clerk, "EUR", map[string]keyFigure{"outstanding": {"€4.00", "1 link: 1 open, 0 being paid"},
		"collected": {"€23.90", "3 links paid"}, "paid-rate": {"100 %", "3 paid of 3 (0 failed, 0 expired)"}})

	dashPick(t, clerk, "GBP")
	gbp := map[string]keyFigure{"outstanding": {"£6.15", "2 links: 2 open, 0 being paid"},
		"collected": {"£10.50", "2 links paid"}, "paid-rate": {"66.7 %", "2 paid of 3 (1 failed, 0 expired)"}}
	dashShows(t, clerk, "GBP", gbp)
	dashChartTable(t, clerk, paidDay, "£10.50", 2)

	// The pick is the page's address: a reload keeps it.
	clerk.do(chromedp.Reload(), chromedp.WaitVisible("[data-testid=key-figures]"))
	dashShows(t, clerk, "GBP", gbp)

	// The picked page fits the window at both widths and passes axe, with
	// the chart's table opened as a clerk would to read it.
	clerk.do(chromedp.Click("[data-testid=chart] summary"), chromedp.WaitVisible("[data-testid=chart-table]"))
	for _, w := range []int64{1280, 375} {
		clerk.do(chromedp.EmulateViewport(w, 900))
		if got := eval[int](clerk, `document.documentElement.scrollWidth`); got > int(w) {
			t.Errorf("the GBP dashboard at %d px is %d px wide: %s", w, got, eval[string](clerk, widest))
		}
		fitAxe(t, clerk, "dashboard-gbp", w)
	}
	clerk.check("dashboard-picked-gbp")

	// A currency the dashboard has no figures for, or no currency at all,
	// typed into the address: the page still opens, on the default
	// currency, and says so.
	for asked, say := range map[string]string{"chf": "No figures in CHF yet: showing EUR.",
		"XYZ": "“XYZ” is not a currency code: showing EUR.", "<b>€</b>": "“<B>€</B>” is not a currency code: showing EUR."} {
		resp, err := chromedp.Run(clerk.ctx, chromedp.NavigateResponse(s.base+"/?currency="+url.QueryEscape(asked)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusOK {
			t.Errorf("?currency=%s answers %d", asked, resp.Status)
			continue
		}
		if got := clerk.text("[data-testid=currency-notice]"); got != say {
			t.Errorf("?currency=%s: the notice says %q", asked, got)
		}
		dashShows(t, clerk, "EUR", nil)
	}
	clerk.check("dashboard-unknown-currency")

	// Without JavaScript the picker is the same plain form.
	plain := newTab(t, ctx, "finance-no-js")
	if _, err := chromedp.Call(plain.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	plain.do(chromedp.Navigate(s.base+"/"), chromedp.WaitVisible("[data-testid=key-figures]"))
	if eval[bool](plain, `typeof window.htmx !== 'undefined'`) || !eval[bool](clerk, `typeof window.htmx !== 'undefined'`) {
		t.Fatal("htmx is loaded with JavaScript turned off, or not with it on")
	}
	dashShows(t, plain, "EUR", nil)
	dashPick(t, plain, "GBP")
	dashShows(t, plain, "GBP", gbp)
}

// dashPick chooses cur in the dashboard's picker from the keyboard: Tab
// until the picker has the focus (which must show), the arrow keys to
// the currency, Tab to Show and Enter.
func dashPick(t *testing.T, tb *tab, cur string) {
	t.Helper()
	for i := 0; ; i++ {
		if i == 60 {
			t.Fatalf("60 Tabs did not reach the currency picker; focus is on %s", eval[string](tb, `document.activeElement.outerHTML.slice(0, 80)`))
		}
		tb.do(chromedp.KeyEvent(kb.Tab))
		if eval[string](tb, `document.activeElement.id`) == "currency" {
			break
		}
	}
	if !eval[bool](tb, `document.activeElement.matches(':focus-visible') && getComputedStyle(document.activeElement).outlineStyle !== 'none' &&
		parseFloat(getComputedStyle(document.activeElement).outlineWidth) >= 2`) {
		t.Error("the focused currency picker shows no focus outline")
	}
	if got := eval[string](tb, `document.querySelector('label[for=currency]').textContent.trim()`); got == "" {
		t.Error("the currency picker has no visible label")
	}
	for i := 0; eval[string](tb, `document.activeElement.value`) != cur; i++ {
		if i == 20 {
			t.Fatalf("the arrow keys did not reach %s in the picker", cur)
		}
		tb.do(chromedp.KeyEvent(kb.ArrowDown))
	}
	tb.do(chromedp.KeyEvent(kb.Tab))
	if got := eval[string](tb, `document.activeElement.textContent.trim()`); got != "Show" {
		t.Fatalf("Tab after the picker went to %q, want its Show button", got)
	}
	// The new page has no marker. The old page's context goes away during
	// the navigation, so an evaluation may fail meanwhile: try again.
	eval[any](tb, `document.documentElement.dataset.picking = 'yes'`)
	tb.do(chromedp.KeyEvent(kb.Enter))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		loaded, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`!document.documentElement.dataset.picking && document.readyState === 'complete'`))
		if err == nil && loaded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Enter on Show did not load a new page (%v)", err)
		}
	}
	if got := tb.location(); got != "/?currency="+cur {
		t.Errorf("the picked dashboard is at %s, want /?currency=%s", got, cur)
	}
	tb.do(chromedp.WaitVisible("[data-testid=key-figures]"))
}

// dashShows checks that the dashboard's key figures, picker and chart are
// cur's, and each key figure in want (by its testid's suffix) reads as
// said. Amounts of another currency must not appear among them.
func dashShows(t *testing.T, tb *tab, cur string, want map[string]keyFigure) {
	t.Helper()
	if got := tb.text("#key-figures-title"); got != "Key figures in "+cur {
		t.Errorf("the key figures' title is %q, want in %s", got, cur)
	}
	if got := eval[string](tb, `document.querySelector('#currency').value`); got != cur {
		t.Errorf("the picker shows %q, want %s", got, cur)
	}
	if got := tb.text("[data-testid=chart] h2"); !strings.Contains(got, " in "+cur+",") {
		t.Errorf("the chart is %q, want %s's", got, cur)
	}
	other := map[string]string{"EUR": "£", "GBP": "€"}[cur]
	if got := eval[string](tb, `document.querySelector('[data-testid=key-figures]').textContent + document.querySelector('[data-testid=chart]').textContent`); strings.Contains(got, other) {
		t.Errorf("the %s key figures or chart show an amount in %s", cur, other)
	}
	for id, w := range want {
		box := "[data-testid=kf-" + id + "]"
		if got := tb.text(box + " .value"); got != w.value {
			t.Errorf("%s %s: %q, want %q", cur, id, got, w.value)
		}
		if got := tb.text(box + " .note"); got != w.note {
			t.Errorf("%s %s's note: %q, want %q", cur, id, got, w.note)
		}
	}
	if want != nil && tb.text("[data-testid=kf-median] .value") == "—" {
		t.Errorf("%s: no median time to pay, with links paid", cur)
	}
}

// dashChartTable checks the chart's table: 30 days, nothing paid but on
// day, when amount was paid over links links.
func dashChartTable(t *testing.T, tb *tab, day, amount string, links int) {
	t.Helper()
	rows := eval[[][]string](tb, `[...document.querySelectorAll('[data-testid=chart-table] tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()))`)
	if len(rows) != 30 {
		t.Fatalf("the chart's table has %d days, want 30", len(rows))
	}
	var paidOn []string
	for _, r := range rows {
		if r[2] != "0" {
			paidOn = append(paidOn, strings.Join(r, " "))
		}
	}
	if want := day + " " + amount + " " + strconv.Itoa(links); len(paidOn) != 1 || paidOn[0] != want {
		t.Errorf("the chart's table has paid days %q, want only %q", paidOn, want)
	}
}
