package handlers_test

import (
	"context"
	"database/sql"
	"net/http"
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
// page at once cost one computation (three period reads), not twenty.
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
	if n := counter.periods.Load(); n != 3 {
		t.Fatalf("20 concurrent views read the period figures %d times, want 3 (one computation)", n)
	}
}
