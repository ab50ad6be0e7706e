package handlers

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// Chart geometry, in SVG user units.
const (
	chartDays   = 30
	chartWidth  = 600
	chartHeight = 160
)

// dashboard shows, per currency, what happened today and over the last 7
// and 30 days (UTC), paid amount per day for the last 30 days as an SVG
// chart with the same numbers as a table, and what needs attention.
func (a *app) dashboard(c echo.Context) error {
	d, err := a.dashboardFigures(c.Request().Context())
	if err != nil {
		return err
	}
	p := views.DashboardPage{Layout: a.layout(c, "Dashboard", "home"), Periods: d.periods, Chart: d.chart,
		Attention: d.attention, AsOf: d.at.Format("15:04:05") + " UTC"}
	if hasRole(c, paylink.RoleAdmin) {
		// Until an admin names the company, customers see the first-run
		// default (PAYLINKS_COMPANY_NAME) on their pages and emails.
		if !a.brand(c.Request().Context()).Named {
			p.Attention = append(slices.Clip(p.Attention), views.AttentionItem{Kind: "info",
				Text: "Customers see \"" + a.opts.CompanyName + "\" as your company name on their pages and emails. Set your company name, logo and support contact in Settings.",
				URL:  a.url(RouteSettings)})
		}
	}
	if hasRole(c, paylink.RoleFinance) {
		p.NewURL = a.url(RouteLinkNew)
	}
	return a.render(c, 200, views.Dashboard(p))
}

// dashboardData is what every user's dashboard shows, worked out at `at`.
type dashboardData struct {
	at        time.Time
	periods   []views.PeriodFigures
	chart     views.Chart
	attention []views.AttentionItem
}

// dashboardCache shares the figures between viewers: on a million links
// they cost a few hundred milliseconds of reads, and a hundred people
// opening the home page at nine must not each pay that.
type dashboardCache struct {
	mu   sync.Mutex
	data *dashboardData
	// working is closed when the computation under way ends; nil when none.
	working chan struct{}
}

// dashboardFigures returns figures at most Options.DashboardMaxAge old. The
// first viewer after that works them out afresh; viewers arriving meanwhile
// get the previous figures (their time is on the page), or, before there
// are any, wait for that one computation rather than start their own.
func (a *app) dashboardFigures(ctx context.Context) (*dashboardData, error) {
	for {
		now := a.now().UTC()
		a.dash.mu.Lock()
		d, working := a.dash.data, a.dash.working
		if d != nil && ((now.Sub(d.at) < a.opts.DashboardMaxAge && !now.Before(d.at)) || working != nil) {
			a.dash.mu.Unlock()
			return d, nil
		}
		if working == nil {
			done := make(chan struct{})
			a.dash.working = done
			a.dash.mu.Unlock()
			d, err := a.workOutDashboard(ctx, now)
			a.dash.mu.Lock()
			if err == nil {
				a.dash.data = d
			}
			a.dash.working = nil
			close(done)
			a.dash.mu.Unlock()
			return d, err
		}
		a.dash.mu.Unlock()
		select { // no figures yet: wait for the ones being worked out
		case <-working:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// workOutDashboard reads every figure the dashboard shows.
func (a *app) workOutDashboard(ctx context.Context, now time.Time) (*dashboardData, error) {
	d := &dashboardData{at: now}
	today := now.Truncate(24 * time.Hour)
	for _, per := range []struct {
		title string
		since time.Time
	}{{"Today", today}, {"Last 7 days", today.AddDate(0, 0, -6)}, {"Last 30 days", today.AddDate(0, 0, -(chartDays - 1))}} {
		figs, err := a.store.PeriodFigures(ctx, per.since)
		if err != nil {
			return nil, err
		}
		pf := views.PeriodFigures{Title: per.title}
		for _, f := range figs {
			pf.Rows = append(pf.Rows, views.CurrencyRow{
				Currency: f.Currency, Created: f.Created, Paid: f.Paid, Settled: f.Settled, Failed: f.Failed, Expired: f.Expired,
				CreatedAmount: formatMoney(f.CreatedMinor, f.Currency), PaidAmount: formatMoney(f.PaidMinor, f.Currency),
				SettledAmount: formatMoney(f.SettledMinor, f.Currency),
			})
		}
		d.periods = append(d.periods, pf)
	}
	var err error
	if d.chart, err = a.paidChart(ctx, today); err != nil {
		return nil, err
	}
	if d.attention, err = a.attention(ctx, now); err != nil {
		return nil, err
	}
	return d, nil
}

// paidChart draws the paid amount per day of the most-paid currency
// (amounts in different currencies cannot share an axis).
func (a *app) paidChart(ctx context.Context, today time.Time) (views.Chart, error) {
	since := today.AddDate(0, 0, -(chartDays - 1))
	cur, err := a.store.TopPaidCurrency(ctx, since)
	if err != nil || cur == "" {
		return views.Chart{Title: "Paid per day, last 30 days"}, err
	}
	days, err := a.store.PaidPerDay(ctx, cur, since)
	if err != nil {
		return views.Chart{}, err
	}
	byDay := map[int64]db.DayAmount{}
	var peak db.DayAmount
	for _, d := range days {
		byDay[d.Day.Unix()] = d
		if d.Minor > peak.Minor {
			peak = d
		}
	}
	ch := views.Chart{Title: "Paid per day in " + cur + ", last 30 days", Currency: cur, Width: chartWidth, Height: chartHeight,
		MaxLabel: formatMoney(peak.Minor, cur) + " on " + peak.Day.Format("2 Jan")}
	w := chartWidth / chartDays
	for i := 0; i < chartDays; i++ {
		day := since.AddDate(0, 0, i)
		d := byDay[day.Unix()]
		h := 0
		if peak.Minor > 0 {
			h = int(d.Minor * (chartHeight - 10) / peak.Minor)
		}
		if d.Minor > 0 && h < 2 {
			h = 2 // a paid day is always visible
		}
		ch.Bars = append(ch.Bars, views.Bar{X: i * w, Y: chartHeight - h, W: w - 2, H: h,
			Day: day.Format("2 Jan"), Amount: formatMoney(d.Minor, cur), Count: d.Count})
	}
	return ch, nil
}

// attention lists what staff must act on, each linking to where it is fixed.
func (a *app) attention(ctx context.Context, now time.Time) ([]views.AttentionItem, error) {
	at, err := a.store.AttentionList(ctx, now, now.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	var items []views.AttentionItem
	links := a.url(RouteLinks)
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	if at.ErrorLinks > 0 {
		items = append(items, views.AttentionItem{Kind: "bad", Text: plural(at.ErrorLinks, "link has", "links have") + " no checkout: StableMint refused or could not be reached. Retry or re-issue.",
			URL: links + "?" + url.Values{"status": {string(paylink.StatusError)}}.Encode()})
	}
	if at.Unmatched > 0 {
		items = append(items, views.AttentionItem{Kind: "bad", Text: plural(at.Unmatched, "webhook event matches", "webhook events match") + " no link: assign or dismiss.",
			URL: a.url(RouteEvents) + "?outcome=unmatched"})
	}
	if at.Unparsable > 0 {
		items = append(items, views.AttentionItem{Kind: "bad", Text: plural(at.Unparsable, "webhook event could", "webhook events could") + " not be read.",
			URL: a.url(RouteEvents) + "?outcome=unparsable"})
	}
	for _, l := range at.NeedsReview {
		items = append(items, views.AttentionItem{Kind: "bad", Text: "Link #" + strconv.FormatInt(l.ID, 10) + " (" + formatMoney(l.AmountMinor, l.Currency) +
			"): a payment's amount or currency differs. An admin must review it.", URL: a.url(RouteLink, l.ID)})
	}
	failed, err := a.store.FailedEmails(ctx, 10)
	if err != nil {
		return nil, err
	}
	for _, e := range failed {
		items = append(items, views.AttentionItem{Kind: "bad", Text: "Email to " + e.ToAddr + " for link #" + strconv.FormatInt(e.LinkID, 10) + " failed: " + truncate(e.LastError, 120),
			URL: a.url(RouteLink, e.LinkID)})
	}
	for _, l := range at.PaidAfterCancel {
		items = append(items, views.AttentionItem{Kind: "bad", Text: "Link #" + strconv.FormatInt(l.ID, 10) + " (" + formatMoney(l.AmountMinor, l.Currency) +
			") was paid after it was cancelled: keep the payment or refund the customer.", URL: a.url(RouteLink, l.ID)})
	}
	for _, l := range at.PaidAfterExpiry {
		items = append(items, views.AttentionItem{Kind: "warn", Text: "Link #" + strconv.FormatInt(l.ID, 10) + " (" + formatMoney(l.AmountMinor, l.Currency) + ") was paid after it expired.",
			URL: a.url(RouteLink, l.ID)})
	}
	if at.ExpiringSoon > 0 {
		tomorrow := now.Add(24 * time.Hour).Format(time.DateOnly)
		items = append(items, views.AttentionItem{Kind: "info", Text: plural(at.ExpiringSoon, "open link expires", "open links expire") + " within 24 hours.",
			URL: links + "?" + url.Values{"status": {string(paylink.StatusOpen)}, "expires_to": {tomorrow}}.Encode()})
	}
	return items, nil
}
