package handlers_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
)

// setStatus moves a link as webhooks would, at the clock's time.
func setStatus(t *testing.T, e *env, id int64, status paylink.Status, flags ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", db.DSN(e.store.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	q := "UPDATE links SET status = ?, updated_at = ?"
	for _, f := range flags {
		q += ", " + f + " = 1"
	}
	if _, err := raw.Exec(q+" WHERE id = ?", status, e.clock.Now().UnixMilli(), id); err != nil {
		t.Fatal(err)
	}
}

func TestDashboardFiguresPerCurrency(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	now := e.clock.Now()
	mk := func(ago time.Duration, minor int64, cur string, status paylink.Status, flags ...string) int64 {
		e.clock.Advance(-ago)
		defer e.clock.Advance(ago)
		l, _, err := e.store.CreateLink(context.Background(), db.NewLink{
			IdempotencyKey: "k-" + cur + itoa(int(minor)) + ago.String(), CustomerID: "C", CustomerEmail: "c@example.com", Country: "DE",
			AmountMinor: minor, AmountText: "x", Currency: cur, SuccessURL: "https://x/s", SupportURL: "https://x/h",
			ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: u.ID, AllowDuplicate: true,
		}, db.AuditEntry{Action: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if status != paylink.StatusCreating {
			setStatus(t, e, l.ID, status, flags...)
		}
		return l.ID
	}
	mk(time.Hour, 500, "EUR", paylink.StatusPaid)          // today, paid
	mk(2*time.Hour, 250, "EUR", paylink.StatusSettled)     // today, paid and settled
	mk(3*time.Hour, 999, "EUR", paylink.StatusOpen)        // today, open
	mk(3*24*time.Hour, 700, "EUR", paylink.StatusFailed)   // 3 days ago
	mk(5*24*time.Hour, 1000, "JPY", paylink.StatusPaid)    // 5 days ago, JPY
	mk(20*24*time.Hour, 300, "EUR", paylink.StatusExpired) // 20 days ago
	mk(40*24*time.Hour, 900, "EUR", paylink.StatusPaid)    // outside 30 days
	errID := mk(time.Minute, 100, "EUR", paylink.StatusError)
	review := mk(4*time.Hour, 400, "GBP", paylink.StatusOpen, "needs_review", "paid_after_expiry")
	afterCancel := mk(45*24*time.Hour, 450, "GBP", paylink.StatusPaid, "paid_after_cancel") // outside every period: only in the attention list
	mk(2*24*time.Hour, 120, "EUR", paylink.StatusCancelled)                                 // cancelled 2 days ago (its last change)
	mk(time.Hour, 80, "EUR", paylink.StatusProcessing)                                      // today, being paid
	_ = now

	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/")
	if p.status() != http.StatusOK {
		t.Fatalf("dashboard %d", p.status())
	}
	cell := func(period int, cur, col string) string {
		return strings.TrimSpace(p.find("[data-testid=period]").Eq(period).Find(`[data-testid=period-row][data-currency="` + cur + `"] [data-testid=` + col + `]`).Text())
	}
	cases := []struct {
		period    int
		cur, col  string
		wantStart string
	}{
		{0, "EUR", "created", "5 €19.29"}, {0, "EUR", "paid", "2 €7.50"}, {0, "EUR", "settled", "1 €2.50"}, {1, "EUR", "failed", "1"}, {1, "JPY", "paid", "1 ¥1,000"},
		{2, "EUR", "created", "8 €30.49"}, {2, "EUR", "expired", "1"}, {2, "EUR", "paid", "2 €7.50"},
		{2, "GBP", "created", "1 £4.00"},
		{0, "EUR", "cancelled", "0"}, {1, "EUR", "cancelled", "1"}, {1, "EUR", "created", "7 €27.49"},
	}
	for _, c := range cases {
		if got := cell(c.period, c.cur, c.col); got != c.wantStart {
			t.Errorf("period %d %s %s = %q, want %q", c.period, c.cur, c.col, got, c.wantStart)
		}
	}
	// The chart draws the most-paid currency with a table of the same numbers.
	if !strings.Contains(p.find("[data-testid=chart] h2").Text(), "EUR") || p.find("[data-testid=chart] svg rect.bar").Length() != 30 {
		t.Errorf("chart: %q, %d bars", p.find("[data-testid=chart] h2").Text(), p.find("[data-testid=chart] svg rect.bar").Length())
	}
	if !strings.Contains(p.find("[data-testid=chart-table]").Text(), "€7.50") {
		t.Error("chart table lacks today's paid total")
	}
	// Outstanding: open and processing links now, per currency, together.
	out := func(cur, col string) string {
		return strings.TrimSpace(p.find(`[data-testid=outstanding-row][data-currency="` + cur + `"] [data-testid=` + col + `]`).Text())
	}
	if out("EUR", "open") != "1" || out("EUR", "processing") != "1" || out("EUR", "outstanding-amount") != "€10.79" || out("GBP", "open") != "1" {
		t.Errorf("outstanding EUR open %q processing %q amount %q, GBP open %q; want 1, 1, €10.79, 1",
			out("EUR", "open"), out("EUR", "processing"), out("EUR", "outstanding-amount"), out("GBP", "open"))
	}
	// The chart's axes: a money scale at or above the highest day (€7.50
	// today: €10.00, with €5.00 in the middle) and the first, middle and
	// last day under the bars.
	if got := strings.Fields(p.find("[data-testid=chart-y]").Text()); strings.Join(got, " ") != "€10.00 €5.00 €0.00" {
		t.Errorf("y axis %q, want €10.00 €5.00 €0.00", got)
	}
	today := e.clock.Now().UTC()
	wantX := today.AddDate(0, 0, -29).Format("2 Jan") + " " + today.AddDate(0, 0, -14).Format("2 Jan") + " " + today.Format("2 Jan")
	var xs []string
	p.find("[data-testid=chart-x] span").Each(func(_ int, sp *goquery.Selection) { xs = append(xs, sp.Text()) })
	if got := strings.Join(xs, " "); got != wantX {
		t.Errorf("x axis %q, want %q", got, wantX)
	}
	att := p.find("[data-testid=attention-item]").Text()
	for _, want := range []string{"1 link has no checkout", "Link #" + itoa(int(review)), "paid after it expired",
		"Link #" + itoa(int(afterCancel)) + " (£4.50) was paid after it was cancelled"} {
		if !strings.Contains(att, want) {
			t.Errorf("attention list lacks %q:\n%s", want, att)
		}
	}
	if href, _ := p.find("[data-testid=attention-item] a").First().Attr("href"); !strings.Contains(href, "status=error") {
		t.Errorf("error item links to %q", href)
	}
	_ = errID
}

// TestDashboardAllWell: open links about to expire are news, not
// something to fix: Needs attention still says nothing needs it, and the
// expiring links are a line under Outstanding, linking to them.
func TestDashboardAllWell(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("v@example.com", paylink.RoleViewer)
	ctx := context.Background()
	l, _, err := e.store.CreateLink(ctx, db.NewLink{
		IdempotencyKey: "k-exp", CustomerID: "C", CustomerEmail: "c@example.com", Country: "DE", AmountMinor: 500, AmountText: "5.00",
		Currency: "EUR", SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: u.ID,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CompleteLinkCreation(ctx, l.ID, "SM-EXP", "https://checkout.example/SM-EXP", e.clock.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("v@example.com")
	p := b.get("/")
	if p.find("[data-testid=all-well]").Length() != 1 || p.find("[data-testid=attention-item]").Length() != 0 {
		t.Fatalf("attention list with one open link expiring: %q", p.find("[data-testid=attention]").Text())
	}
	exp := p.find("[data-testid=outstanding] [data-testid=expiring] a")
	if href, _ := exp.Attr("href"); exp.Text() != "1 open link expires within 24 hours." || !strings.Contains(href, "status=open") {
		t.Errorf("expiring line %q → %q", exp.Text(), href)
	}
	if strings.Contains(p.body, "New link") {
		t.Error("viewer offered New link on the dashboard")
	}
}

// TestDashboardFiguresAreSharedForMaxAge: within DashboardMaxAge every
// viewer gets the same worked-out figures, stamped with their time; after
// it, a view works them out again and shows what changed.
func TestDashboardFiguresAreSharedForMaxAge(t *testing.T) {
	e := newEnv(t, func(c *app.Config, _ *app.Parts) { c.DashboardMaxAge = 10 * time.Second })
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("fin@example.com")
	created := func(p page) string {
		return strings.TrimSpace(p.find("[data-testid=period]").Eq(0).Find(`[data-testid=period-row][data-currency="EUR"] [data-testid=created]`).Text())
	}
	first := b.get("/")
	asOf := first.find("[data-testid=as-of]").Text()
	if created(first) != "" || !strings.Contains(asOf, "UTC") {
		t.Fatalf("empty dashboard: created %q, as-of %q", created(first), asOf)
	}
	if _, _, err := e.store.CreateLink(context.Background(), db.NewLink{
		IdempotencyKey: "k-1", CustomerID: "C", CustomerEmail: "c@example.com", Country: "DE", AmountMinor: 500, AmountText: "5.00",
		Currency: "EUR", SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: u.ID,
	}, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(9 * time.Second)
	if again := b.get("/"); created(again) != "" || again.find("[data-testid=as-of]").Text() != asOf {
		t.Fatalf("within max age: created %q as of %q, want the shared figures as of %q", created(again), again.find("[data-testid=as-of]").Text(), asOf)
	}
	e.clock.Advance(2 * time.Second)
	fresh := b.get("/")
	if created(fresh) != "1 €5.00" || fresh.find("[data-testid=as-of]").Text() == asOf {
		t.Fatalf("after max age: created %q as of %q", created(fresh), fresh.find("[data-testid=as-of]").Text())
	}
}

// countingDashboard counts how often the dashboard's figures are read.
type countingDashboard struct {
	handlers.Store
	periods atomic.Int64
}

func (c *countingDashboard) PeriodFigures(ctx context.Context, since time.Time) ([]db.CurrencyFigures, error) {
	c.periods.Add(1)
	time.Sleep(20 * time.Millisecond) // a big table: slow enough for viewers to pile up
	return c.Store.PeriodFigures(ctx, since)
}

// TestDashboardViewersShareOneComputation: twenty people opening the home
// page at once cost one computation (four period reads: today, 7 and 30
// days, and this month), not twenty.
func TestDashboardViewersShareOneComputation(t *testing.T) {
	var counter *countingDashboard
	e := newEnv(t, func(c *app.Config, _ *app.Parts) {
		c.Web = func(o *handlers.Options) {
			counter = &countingDashboard{Store: o.Store}
			o.Store = counter
		}
		c.DashboardMaxAge = time.Minute
	})
	e.addUser("v@example.com", paylink.RoleViewer)
	b := e.browser()
	b.login("v@example.com")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if p := b.get("/"); p.status() != http.StatusOK {
				t.Errorf("dashboard %d", p.status())
			}
		})
	}
	wg.Wait()
	if n := counter.periods.Load(); n != 4 {
		t.Fatalf("20 concurrent views read the period figures %d times, want 4 (one computation)", n)
	}
}

// TestDashboardKeyFiguresAndCurrencyPicker: the key figures at the top are
// one currency's (the settings' default currency, else the most-paid
// one), each saying what it counts; the picker, a plain GET form, moves
// them and the chart to another currency; a currency without payments
// says why it has no paid rate or median.
func TestDashboardKeyFiguresAndCurrencyPicker(t *testing.T) {
	e := newEnv(t, func(c *app.Config, _ *app.Parts) { c.DashboardMaxAge = 10 * time.Second })
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	now := e.clock.Now() // 2026-11-25 09:00 UTC
	at := func(when time.Time, f func()) {
		e.clock.Advance(when.Sub(e.clock.Now()))
		f()
	}
	n := 0
	// link is created at created; each move then sets its status at a time.
	link := func(created time.Time, minor int64, cur string, moves ...any) {
		n++
		at(created, func() {
			l, _, err := e.store.CreateLink(context.Background(), db.NewLink{
				IdempotencyKey: "kf-" + itoa(n), CustomerID: "C", CustomerEmail: "c@example.com", Country: "DE",
				AmountMinor: minor, AmountText: "x", Currency: cur, SuccessURL: "https://x/s", SupportURL: "https://x/h",
				ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: u.ID, AllowDuplicate: true,
			}, db.AuditEntry{Action: "test"})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(moves); i += 2 {
				at(moves[i+1].(time.Time), func() { setStatus(t, e, l.ID, moves[i].(paylink.Status)) })
			}
		})
	}
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	// EUR: paid 1 h, 3 h (since settled) and 2 h (in October) after being
	// created; one failed, one expired; one open and one being paid now.
	link(day(24, 6, 0), 2000, "EUR", paylink.StatusPaid, day(24, 7, 0))
	link(day(20, 9, 0), 3000, "EUR", paylink.StatusPaid, day(20, 12, 0), paylink.StatusSettled, day(21, 12, 0))
	link(time.Date(2026, 10, 30, 9, 0, 0, 0, time.UTC), 700, "EUR", paylink.StatusPaid, time.Date(2026, 10, 30, 11, 0, 0, 0, time.UTC))
	link(day(10, 9, 0), 100, "EUR", paylink.StatusFailed, day(10, 10, 0))
	link(day(12, 9, 0), 200, "EUR", paylink.StatusExpired, day(13, 9, 0))
	link(day(25, 7, 0), 1000, "EUR", paylink.StatusOpen, day(25, 7, 0))
	link(day(25, 7, 0), 500, "EUR", paylink.StatusProcessing, day(25, 8, 0))
	// USD: one payment 20 minutes after the link was made.
	link(day(25, 8, 30), 999, "USD", paylink.StatusPaid, day(25, 8, 50))
	// GBP: one open link, nothing paid, failed or expired.
	link(day(25, 8, 0), 400, "GBP", paylink.StatusOpen, day(25, 8, 0))
	at(now, func() {})

	b := e.browser()
	b.login("fin@example.com")
	key := func(p page, id string) (value, note, how string) {
		tile := p.find("[data-testid=key-figures] [data-testid=" + id + "]")
		return strings.TrimSpace(tile.Find("dd.value").Text()), strings.TrimSpace(tile.Find("dd.note").Text()),
			strings.TrimSpace(tile.Find("dt .how").Text())
	}
	type figure struct{ id, value, note string }
	check := func(p page, cur string, want []figure) {
		t.Helper()
		if p.status() != http.StatusOK {
			t.Fatalf("dashboard %d", p.status())
		}
		if h := p.find("[data-testid=key-figures] h2").Text(); h != "Key figures in "+cur {
			t.Errorf("key figures heading %q, want %q", h, "Key figures in "+cur)
		}
		if sel, _ := p.find("#currency option[selected]").Attr("value"); sel != cur {
			t.Errorf("picker shows %q selected, want %q", sel, cur)
		}
		if h := p.find("[data-testid=chart] h2").Text(); !strings.Contains(h, cur) {
			t.Errorf("chart heading %q, want %s", h, cur)
		}
		for _, f := range want {
			if v, note, _ := key(p, f.id); v != f.value || note != f.note {
				t.Errorf("%s %s = %q / %q, want %q / %q", cur, f.id, v, note, f.value, f.note)
			}
		}
	}

	// No default currency in the settings: the most-paid one, EUR.
	p := b.get("/")
	check(p, "EUR", []figure{
		{"kf-outstanding", "€15.00", "2 links: 1 open, 1 being paid"},
		{"kf-collected", "€50.00", "2 links paid"},
		{"kf-paid-rate", "60 %", "3 paid of 5 (1 failed, 1 expired)"},
		{"kf-median", "about 2 h 5 min", "The middle of 3 paid links; exact to within 10 %."},
	})
	for id, want := range map[string]string{
		"kf-outstanding": "open + processing links, now",
		"kf-collected":   "paid + settled, paid since 1 Nov (UTC)",
		"kf-paid-rate":   "paid ÷ (paid + failed + expired), last 30 days",
		"kf-median":      "created → paid, links paid in the last 30 days",
	} {
		if _, _, how := key(p, id); how != want {
			t.Errorf("%s says it counts %q, want %q", id, how, want)
		}
	}
	var offered []string
	p.find("#currency option").Each(func(_ int, o *goquery.Selection) { offered = append(offered, o.Text()) })
	if strings.Join(offered, " ") != "EUR GBP USD" {
		t.Errorf("picker offers %v, want the currencies with figures: EUR GBP USD", offered)
	}
	if !strings.Contains(p.find("[data-testid=chart-table]").Text(), "€20.00") {
		t.Error("EUR chart table lacks 24 Nov's €20.00")
	}

	// The picker is a GET form to the dashboard: choosing USD is ?currency=USD.
	form := p.find("[data-testid=currency-picker]")
	if m, _ := form.Attr("method"); m != "get" {
		t.Fatalf("picker form method %q", m)
	}
	action, _ := form.Attr("action")
	name, _ := form.Find("select").Attr("name")
	p = b.get(action + "?" + name + "=USD")
	check(p, "USD", []figure{
		{"kf-outstanding", "$0.00", "No open or processing links."},
		{"kf-collected", "$9.99", "1 link paid"},
		{"kf-paid-rate", "100 %", "1 paid of 1 (0 failed, 0 expired)"},
		{"kf-median", "about 19 min", "The middle of 1 paid link; exact to within 10 %."},
	})
	if strings.Contains(p.find("[data-testid=chart-table]").Text(), "€") {
		t.Error("the USD chart shows euros")
	}

	// GBP has nothing paid, failed or expired: no rate, no median, and why.
	check(b.get("/?currency=gbp"), "GBP", []figure{
		{"kf-outstanding", "£4.00", "1 link: 1 open, 0 being paid"},
		{"kf-collected", "£0.00", "Nothing paid yet this month."},
		{"kf-paid-rate", "—", "No link was paid, failed or expired in the last 30 days."},
		{"kf-median", "—", "No link was paid in the last 30 days."},
	})

	// A currency without figures: the default, and a line saying so.
	p = b.get("/?currency=CHF")
	check(p, "EUR", nil)
	if got := p.find("[data-testid=currency-notice]").Text(); got != "No figures in CHF yet: showing EUR." {
		t.Errorf("notice %q", got)
	}
	// Something that is no currency code (a typo in the address, an old
	// bookmark) is not promised figures later, and a long one is cut
	// between characters, never inside one.
	for asked, want := range map[string]string{
		"euro": "“EURO” is not a currency code: showing EUR.",
		url.QueryEscape(strings.Repeat("€", 20)): "“" + strings.Repeat("€", 12) + "…” is not a currency code: showing EUR.",
	} {
		p = b.get("/?currency=" + asked)
		check(p, "EUR", nil)
		if got := p.find("[data-testid=currency-notice]").Text(); got != want {
			t.Errorf("?currency=%s: notice %q, want %q", asked, got, want)
		}
	}

	// With USD as the settings' default currency, the dashboard opens on it.
	if err := e.store.SaveSettings(context.Background(), db.Settings{DefaultCurrency: "USD"}, u.ID, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second)
	check(b.get("/"), "USD", nil)
}
