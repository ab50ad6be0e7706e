package handlers

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// Chart geometry, in SVG user units.
const (
	chartDays   = 30
	chartWidth  = 600
	chartHeight = 160
)

// dashboard shows one currency's key figures (outstanding, collected this
// month, paid rate and median time to pay) and its paid amount per day for
// the last 30 days as an SVG chart with the same numbers as a table, the
// currency picked with ?currency= (a plain GET form); then, per currency,
// what happened today and over the last 7 and 30 days (UTC), and what
// needs attention.
func (a *app) dashboard(c echo.Context) error {
	d, err := a.dashboardFigures(c.Request().Context())
	if err != nil {
		return err
	}
	cur, asked := d.defaultCurrency, strings.ToUpper(strings.TrimSpace(c.QueryParam("currency")))
	var notice string
	switch _, ok := d.key[asked]; {
	case ok:
		cur = asked
	case asked == "":
	case stablemint.ValidCurrency(asked):
		notice = "No figures in " + asked + " yet: showing " + cur + "."
	default: // a typo in the address, or an old bookmark: say it is no currency
		notice = "“" + shorten(asked, 12) + "” is not a currency code: showing " + cur + "."
	}
	p := views.DashboardPage{Layout: a.layout(c, "Dashboard", "home"), Periods: d.periods, Chart: d.charts[cur],
		Attention: d.attention, Outstanding: d.outstanding, Expiring: d.expiring, AsOf: d.at.In(viewerZone(c)).Format("15:04:05 MST"),
		Key: d.key[cur], Currencies: d.currencies, Currency: cur, CurrencyNotice: notice, Action: a.url(RouteHome)}
	if p.Chart.Title == "" {
		p.Chart = views.Chart{Title: "Paid per day in " + cur + ", last 30 days"}
	}
	if p.Key.Currency == "" {
		p.Key = emptyKeyFigures(cur, d.at)
	}
	if hasRole(c, paylink.RoleAdmin) {
		// Until an admin names the company, customers see the first-run
		// default (PAYLINKS_COMPANY_NAME) on their pages and emails.
		if !a.brand(c.Request().Context()).Named {
			p.Attention = append(slices.Clip(p.Attention), views.AttentionItem{Kind: "info",
				Text: "Customers see \"" + a.opts.CompanyName + "\" as your company name on their pages and emails. Set your company name, logo and support contact in Settings.",
				URL:  a.url(RouteSettings)})
		}
		// An outbound-webhook endpoint paylinks turned off after days of
		// failures: the receiving system hears nothing until an admin acts.
		if ost, ok := a.store.(OutboundStore); ok {
			if n, err := ost.OutboundEndpointsFailing(c.Request().Context()); err == nil && n > 0 {
				text := "1 webhook endpoint was turned off"
				if n > 1 {
					text = strconv.Itoa(n) + " webhook endpoints were turned off"
				}
				p.Attention = append(slices.Clip(p.Attention), views.AttentionItem{Kind: "bad",
					Text: text + " after every delivery failed for 3 days: the other system hears nothing until you fix the address and turn it back on.",
					URL:  a.url(RouteWebhookEndpoints)})
			}
		}
	}
	if hasRole(c, paylink.RoleFinance) {
		p.NewURL = a.url(RouteLinkNew)
	}
	return a.render(c, 200, views.Dashboard(p))
}

// dashboardData is what every user's dashboard shows, worked out at `at`.
// The key figures and the chart are there for every currency offered
// (currencies, sorted): a viewer's pick chooses among them.
type dashboardData struct {
	at              time.Time
	periods         []views.PeriodFigures
	currencies      []string
	defaultCurrency string
	key             map[string]views.KeyFigures
	charts          map[string]views.Chart
	attention       []views.AttentionItem
	// outstanding and expiring are information beside the attention list.
	outstanding []views.OutstandingRow
	expiring    views.AttentionItem
}

// dashboardCache shares the figures between viewers. They are read from
// the kept figures (db/figures.go), a few hundred rows, in about a
// millisecond; the cache keeps a hundred people opening the home page at
// nine from each reading them, and one slow read (a cold disk) from being
// paid by more than one viewer.
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
	var last30 []db.CurrencyFigures
	for _, per := range []struct {
		title string
		since time.Time
	}{{"Today", today}, {"Last 7 days", today.AddDate(0, 0, -6)}, {"Last 30 days", today.AddDate(0, 0, -(chartDays - 1))}} {
		figs, err := a.store.PeriodFigures(ctx, per.since)
		if err != nil {
			return nil, err
		}
		last30 = figs // the last period's: the key figures' paid rate counts them too
		pf := views.PeriodFigures{Title: per.title}
		for _, f := range figs {
			pf.Rows = append(pf.Rows, views.CurrencyRow{
				Currency: f.Currency, Created: f.Created, Paid: f.Paid, Settled: f.Settled, Failed: f.Failed, Expired: f.Expired,
				Cancelled:     f.Cancelled,
				CreatedAmount: formatMoney(f.CreatedMinor, f.Currency), PaidAmount: formatMoney(f.PaidMinor, f.Currency),
				SettledAmount: formatMoney(f.SettledMinor, f.Currency),
			})
		}
		d.periods = append(d.periods, pf)
	}
	var err error
	if err = a.keyFigures(ctx, d, today, last30); err != nil {
		return nil, err
	}
	if d.attention, d.expiring, err = a.attention(ctx, now); err != nil {
		return nil, err
	}
	if d.outstanding, err = a.outstanding(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// outstanding is, per currency, the open and processing links and their
// amount together, from the kept per-status figures.
func (a *app) outstanding(ctx context.Context) ([]views.OutstandingRow, error) {
	totals, err := a.store.StatusTotals(ctx)
	if err != nil {
		return nil, err
	}
	var rows []views.OutstandingRow
	minor := map[string]int64{}
	at := map[string]int{}
	for _, t := range totals {
		if t.Status != string(paylink.StatusOpen) && t.Status != string(paylink.StatusProcessing) {
			continue
		}
		i, ok := at[t.Currency]
		if !ok {
			i = len(rows)
			at[t.Currency] = i
			rows = append(rows, views.OutstandingRow{Currency: t.Currency})
		}
		if t.Status == string(paylink.StatusOpen) {
			rows[i].Open += t.Links
		} else {
			rows[i].Processing += t.Links
		}
		minor[t.Currency] += t.Minor
	}
	slices.SortFunc(rows, func(x, y views.OutstandingRow) int {
		if n := (y.Open + y.Processing) - (x.Open + x.Processing); n != 0 {
			return n
		}
		return strings.Compare(x.Currency, y.Currency)
	})
	for i := range rows {
		rows[i].Amount = formatMoney(minor[rows[i].Currency], rows[i].Currency)
	}
	return rows, nil
}

// keyFigures fills d's key figures and charts, one of each per currency
// that has something to show (outstanding links, links created, paid or
// finished in the last 30 days, or paid this month), all from the kept
// figures (recent: the last 30 days' period figures, read already), and
// picks the default currency: the settings', if it has figures, else the
// one with the most paid links in the last 30 days. Amounts in different
// currencies are never added up.
func (a *app) keyFigures(ctx context.Context, d *dashboardData, today time.Time, recent []db.CurrencyFigures) error {
	month := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)
	last30 := today.AddDate(0, 0, -(chartDays - 1))
	collected, err := a.store.PeriodFigures(ctx, month)
	if err != nil {
		return err
	}
	payTimes, err := a.store.PayTimes(ctx, last30)
	if err != nil {
		return err
	}
	totals, err := a.store.StatusTotals(ctx)
	if err != nil {
		return err
	}
	d.key = map[string]views.KeyFigures{}
	key := func(cur string) views.KeyFigures {
		k, ok := d.key[cur]
		if !ok {
			k = emptyKeyFigures(cur, today)
		}
		return k
	}
	outstanding := map[string]int64{}
	for _, t := range totals {
		if t.Links == 0 || (t.Status != string(paylink.StatusOpen) && t.Status != string(paylink.StatusProcessing)) {
			continue
		}
		k := key(t.Currency)
		if t.Status == string(paylink.StatusOpen) {
			k.OutstandingOpen += t.Links
		} else {
			k.OutstandingProcessing += t.Links
		}
		outstanding[t.Currency] += t.Minor
		k.OutstandingAmount = formatMoney(outstanding[t.Currency], t.Currency)
		k.OutstandingNote = plural(k.OutstandingOpen+k.OutstandingProcessing, "link", "links") + ": " +
			strconv.Itoa(k.OutstandingOpen) + " open, " + strconv.Itoa(k.OutstandingProcessing) + " being paid"
		d.key[t.Currency] = k
	}
	for _, f := range collected {
		if f.Paid == 0 {
			continue
		}
		k := key(f.Currency)
		k.CollectedAmount = formatMoney(f.PaidMinor, f.Currency)
		k.CollectedNote = plural(f.Paid, "link", "links") + " paid"
		d.key[f.Currency] = k
	}
	for _, f := range recent {
		k := key(f.Currency)
		k.PaidRate, k.PaidRateNote = paidRate(f.Paid, f.Failed, f.Expired)
		d.key[f.Currency] = k
	}
	for _, p := range payTimes {
		if k, ok := d.key[p.Currency]; ok { // paid in the last 30 days: it has a row already
			k.MedianPayTime, k.MedianAbout = formatPayTime(p.Median), true
			k.MedianNote = "The middle of " + plural(p.Links, "paid link", "paid links") + "; exact to within 10 %."
			d.key[p.Currency] = k
		}
	}
	for cur := range d.key {
		d.currencies = append(d.currencies, cur)
	}
	slices.Sort(d.currencies)

	st, err := a.store.GetSettings(ctx)
	if err != nil {
		return err
	}
	top := db.MostPaid(recent) // the last 30 days' figures, read already
	switch _, ok := d.key[st.DefaultCurrency]; {
	case ok:
		d.defaultCurrency = st.DefaultCurrency
	case top != "":
		d.defaultCurrency = top
	case len(d.currencies) > 0:
		d.defaultCurrency = d.currencies[0]
	default:
		d.defaultCurrency = a.defaults(st).DefaultCurrency
	}
	d.charts = map[string]views.Chart{}
	for _, cur := range d.currencies {
		if d.charts[cur], err = a.paidChart(ctx, cur, last30); err != nil {
			return err
		}
	}
	return nil
}

// emptyKeyFigures is a currency's key figures with nothing to count.
func emptyKeyFigures(cur string, today time.Time) views.KeyFigures {
	k := views.KeyFigures{Currency: cur, OutstandingAmount: formatMoney(0, cur), OutstandingNote: "No open or processing links.",
		CollectedAmount: formatMoney(0, cur), CollectedNote: "Nothing paid yet this month.",
		CollectedSince: "1 " + today.UTC().Format("Jan") + " (UTC)", MedianPayTime: "—",
		MedianNote: "No link was paid in the last 30 days."}
	k.PaidRate, k.PaidRateNote = paidRate(0, 0, 0)
	return k
}

// paidRate is paid ÷ (paid + failed + expired) as a percentage with a
// line saying what it counted, or "—" and why there is none.
func paidRate(paid, failed, expired int) (rate, note string) {
	n := paid + failed + expired
	if n == 0 {
		return "—", "No link was paid, failed or expired in the last 30 days."
	}
	pct := strconv.FormatFloat(float64(paid)*100/float64(n), 'f', 1, 64)
	pct = strings.TrimSuffix(pct, ".0")
	if paid != n && pct == "100" { // never round a failure away
		pct = "99.9"
	}
	return pct + " %", strconv.Itoa(paid) + " paid of " + strconv.Itoa(n) + " (" + strconv.Itoa(failed) + " failed, " + strconv.Itoa(expired) + " expired)"
}

// formatPayTime says a time to pay the way a person would, to two units:
// "45 s", "12 min", "2 h 10 min", "3 days 4 h".
func formatPayTime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Round(time.Minute)/time.Minute)) + " min"
	case d < 24*time.Hour:
		m := int(d.Round(time.Minute) / time.Minute)
		if m%60 == 0 {
			return strconv.Itoa(m/60) + " h"
		}
		return strconv.Itoa(m/60) + " h " + strconv.Itoa(m%60) + " min"
	}
	h := int(d.Round(time.Hour) / time.Hour)
	days := plural(h/24, "day", "days")
	if h%24 == 0 {
		return days
	}
	return days + " " + strconv.Itoa(h%24) + " h"
}

// plural is "1 link", "3 links".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// paidChart draws the paid amount per day of one currency since since's
// day (amounts in different currencies cannot share an axis).
func (a *app) paidChart(ctx context.Context, cur string, since time.Time) (views.Chart, error) {
	days, err := a.store.PaidPerDay(ctx, cur, since)
	if err != nil || len(days) == 0 {
		return views.Chart{Title: "Paid per day in " + cur + ", last 30 days"}, err
	}
	byDay := map[int64]db.DayAmount{}
	var peak db.DayAmount
	for _, d := range days {
		byDay[d.Day.Unix()] = d
		if d.Minor > peak.Minor {
			peak = d
		}
	}
	top := scaleTop(peak.Minor)
	ch := views.Chart{Title: "Paid per day in " + cur + ", last 30 days", Currency: cur, Width: chartWidth, Height: chartHeight,
		MaxLabel: formatMoney(peak.Minor, cur) + " on " + peak.Day.Format("2 Jan"),
		YTop:     formatMoney(top, cur), YMid: formatMoney(top/2, cur), YZero: formatMoney(0, cur), MidY: chartHeight / 2}
	w := chartWidth / chartDays
	for i, k := range []int{0, chartDays / 2, chartDays - 1} {
		ch.XDates[i] = since.AddDate(0, 0, k).Format("2 Jan")
	}
	for i := 0; i < chartDays; i++ {
		day := since.AddDate(0, 0, i)
		d := byDay[day.Unix()]
		h := int(d.Minor * chartHeight / top)
		if d.Minor > 0 && h < 2 {
			h = 2 // a paid day is always visible
		}
		ch.Bars = append(ch.Bars, views.Bar{X: i * w, Y: chartHeight - h, W: w - 2, H: h,
			Day: day.Format("2 Jan"), Amount: formatMoney(d.Minor, cur), Count: d.Count})
	}
	return ch, nil
}

// scaleTop is the chart's scale: the smallest of 1, 2, 5 × a power of ten
// (in minor units) at or above peak, made even so that its middle
// gridline is a whole amount too.
func scaleTop(peak int64) int64 {
	top := int64(1)
	for top < peak {
		switch d := top / powerOfTen(top); d {
		case 1:
			top *= 2
		case 2:
			top = top / 2 * 5
		default:
			top *= 2
		}
	}
	if top%2 != 0 {
		top *= 2
	}
	return top
}

// powerOfTen is the largest power of ten at or below n (n ≥ 1).
func powerOfTen(n int64) int64 {
	p := int64(1)
	for p*10 <= n {
		p *= 10
	}
	return p
}

// attention lists what staff must act on, each linking to where it is
// fixed, and, apart from it, the open links expiring within a day: those
// are information (nothing to fix), so the list can be empty.
func (a *app) attention(ctx context.Context, now time.Time) ([]views.AttentionItem, views.AttentionItem, error) {
	var expiring views.AttentionItem
	at, err := a.store.AttentionList(ctx, now, now.Add(24*time.Hour))
	if err != nil {
		return nil, expiring, err
	}
	var items []views.AttentionItem
	links := a.url(RouteLinks)
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
		return nil, expiring, err
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
		expiring = views.AttentionItem{Kind: "info", Text: plural(at.ExpiringSoon, "open link expires", "open links expire") + " within 24 hours.",
			URL: links + "?" + url.Values{"status": {string(paylink.StatusOpen)}, "expires_to": {tomorrow}}.Encode()}
	}
	return items, expiring, nil
}
