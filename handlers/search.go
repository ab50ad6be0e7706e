package handlers

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// Search limits.
const (
	// searchWalkBudget bounds a page of a broad term (more than 10,000
	// matches) spread thinly through the list; past it the page says so.
	searchWalkBudget = 2 * time.Second
	linksPerPage     = 50
	countCap         = 10000 // exact totals up to here, then "10,000+"
	maxSearchTerm    = 200
)

// allStatuses in lifecycle order, for the filter.
var allStatuses = paylink.Statuses

// linkSearch is the list's URL state: the search term, filters, sort and
// page, parsed from the query string and written back into every link.
type linkSearch struct {
	filter views.LinkFilter
	query  db.LinkQuery
	// refused: the filters contradict each other (a reversed date range);
	// the page says so beside them and searches nothing.
	refused bool
}

// parseLinkSearch reads the query string. A bad date becomes a message
// beside its field and is ignored, never a 400.
func parseLinkSearch(v url.Values) linkSearch {
	f := views.LinkFilter{
		Q:        strings.TrimSpace(v.Get("q")),
		Currency: strings.ToUpper(strings.TrimSpace(v.Get("currency"))), Statuses: map[string]bool{},
		CreatedFrom: v.Get("created_from"), CreatedTo: v.Get("created_to"),
		ExpiresFrom: v.Get("expires_from"), ExpiresTo: v.Get("expires_to"),
		CreatedBy: v.Get("created_by"), Sort: v.Get("sort"), Errors: views.FieldErrors{},
	}
	f.Q = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(f.Q, ""))
	if len(f.Q) > maxSearchTerm { // cut on a character boundary
		cut := maxSearchTerm
		for cut > 0 && !utf8.RuneStart(f.Q[cut]) {
			cut--
		}
		f.Q = f.Q[:cut]
	}
	q := db.LinkQuery{Term: f.Q, Limit: linksPerPage, After: v.Get("after"), Before: v.Get("before")}
	q.AmountTexts = amountCandidates(f.Q)
	// ?batch=<id>: the links one bulk import made (its progress page links here).
	if n, err := strconv.ParseInt(v.Get("batch"), 10, 64); err == nil && n > 0 {
		q.ImportBatch, f.Batch = n, strconv.FormatInt(n, 10)
	}
	for _, s := range v["status"] {
		for _, known := range allStatuses {
			if s == string(known) && !f.Statuses[s] {
				f.Statuses[s] = true
				q.Statuses = append(q.Statuses, known)
			}
		}
	}
	if stablemint.ValidCurrency(f.Currency) {
		q.Currency = f.Currency
	} else {
		f.Currency = ""
	}
	searchAmountWithCurrency(&f, &q)
	q.CreatedFrom = parseDay(f.Errors, "created_from", f.CreatedFrom)
	if t := parseDay(f.Errors, "created_to", f.CreatedTo); !t.IsZero() {
		q.CreatedTo = t.AddDate(0, 0, 1) // "before" the end of that day: inclusive for people
	}
	q.ExpiresFrom = parseDay(f.Errors, "expires_from", f.ExpiresFrom)
	if t := parseDay(f.Errors, "expires_to", f.ExpiresTo); !t.IsZero() {
		q.ExpiresTo = t.AddDate(0, 0, 1)
	}
	// A range that ends before it starts is refused beside the dates, not
	// searched: it would list nothing and say only "no match".
	refused := false
	if !q.CreatedFrom.IsZero() && !q.CreatedTo.IsZero() && !q.CreatedFrom.Before(q.CreatedTo) {
		f.Errors["created_range"] = "“Created before” is earlier than “Created from”. Swap the two dates, or change one of them."
		refused = true
	}
	if !q.ExpiresFrom.IsZero() && !q.ExpiresTo.IsZero() && !q.ExpiresFrom.Before(q.ExpiresTo) {
		f.Errors["expires_range"] = "“Expires before” is earlier than “Expires from”. Swap the two dates, or change one of them."
		refused = true
	}
	q.CreatedBy, _ = strconv.ParseInt(f.CreatedBy, 10, 64)
	f.Attention = v.Get("attention") == "1"
	q.NeedsAttention = f.Attention
	switch f.Sort {
	case db.SortAmount, db.SortStatus:
	default:
		f.Sort = db.SortCreated
	}
	q.Sort = f.Sort
	return linkSearch{filter: f, query: q, refused: refused}
}

// searchAmountWithCurrency reads a term written as an amount with its
// currency ("€9.99", "9.99 EUR", "EUR 9.99"; links.SplitAmount) as that
// amount in that currency: the currency filter is set for this search
// (not in the form, so the next term is not held to it). A sign that
// stands for several currencies ("$") searches the amount in any
// currency, as an amount typed alone is.
// A currency that disagrees with the filter chosen finds no amount.
func searchAmountWithCurrency(f *views.LinkFilter, q *db.LinkQuery) {
	number, currencies := links.SplitAmount(f.Q)
	if len(currencies) == 0 {
		return
	}
	if q.Currency != "" && !slices.Contains(currencies, q.Currency) {
		f.AmountNote = "The amount is written in " + strings.Join(currencies, " or ") + ", but the currency filter is " +
			q.Currency + ": no amount is searched."
		return
	}
	if len(currencies) == 1 {
		a, err := stablemint.ParseAmount(number, currencies[0])
		if err != nil {
			return
		}
		q.Currency, q.AmountTexts = currencies[0], []string{a.String()}
		f.AmountNote = "Showing amounts of " + a.String() + " " + currencies[0] + "."
		return
	}
	if texts := amountCandidates(number); len(texts) > 0 {
		q.AmountTexts = texts
		if q.Currency == "" {
			some := strings.Join(currencies[:min(3, len(currencies))], ", ")
			if len(currencies) > 3 {
				some += "…"
			}
			f.AmountNote = "That sign stands for several currencies (" + some + "): showing amounts of " + number + " in any currency."
		}
	}
}

// amountCandidates reads the term as an amount in each currency exponent
// (0, 2, 3, 4) and returns the distinct major-unit spellings it could mean.
func amountCandidates(term string) []string {
	if term == "" || strings.IndexFunc(term, func(r rune) bool {
		return !(unicode.IsDigit(r) || r == '.' || r == ',' || r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\'')
	}) >= 0 {
		return nil
	}
	var out []string
	for _, cur := range []string{"JPY", "EUR", "KWD", "CLF"} { // exponents 0, 2, 3, 4
		a, err := stablemint.ParseAmount(term, cur)
		if err != nil {
			continue
		}
		s := a.String()
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// shortTerm reports a term of 1 or 2 characters: db.LinkQuery matches it
// only whole (a reference, customer id, email or amount), with no prefix
// or substring search, which needs 3 (trigrams).
func shortTerm(q string) bool {
	n := utf8.RuneCountInString(q)
	return n > 0 && n < 3
}

// searched reports whether any term or filter narrows the list.
func (s linkSearch) searched() bool {
	f := s.filter
	return f.Q != "" || len(f.Statuses) > 0 || f.Attention || f.Currency != "" || f.CreatedFrom != "" || f.CreatedTo != "" ||
		f.ExpiresFrom != "" || f.ExpiresTo != "" || f.CreatedBy != "" || f.Batch != "" || f.Sort != db.SortCreated
}

// values writes the search back as a query string (without the page).
func (s linkSearch) values() url.Values {
	v := url.Values{}
	f := s.filter
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", f.Q)
	for _, st := range allStatuses {
		if f.Statuses[string(st)] {
			v.Add("status", string(st))
		}
	}
	set("currency", f.Currency)
	set("created_from", f.CreatedFrom)
	set("created_to", f.CreatedTo)
	set("expires_from", f.ExpiresFrom)
	set("expires_to", f.ExpiresTo)
	set("created_by", f.CreatedBy)
	set("batch", f.Batch)
	if f.Attention {
		v.Set("attention", "1")
	}
	if f.Sort != db.SortCreated {
		set("sort", f.Sort)
	}
	return v
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// formatCount writes 1234 as "1,234" and the cap as "10,000+".
func formatCount(n, cap int) string {
	plus := ""
	if n > cap {
		n, plus = cap, "+"
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s + plus
}

// rowRange writes the positions of n rows from start: "1–50", "7"; ""
// when there are none or start is unknown (0).
func rowRange(start, n int) string {
	switch {
	case start < 1 || n < 1:
		return ""
	case n == 1:
		return formatCount(start, math.MaxInt)
	}
	return formatCount(start, math.MaxInt) + "–" + formatCount(start+n-1, math.MaxInt)
}

// links is the list with search, filters, sort and keyset pages. A single
// exact hit on a reference goes straight to the link. htmx requests get only
// the results fragment.
func (a *app) links(c echo.Context) error {
	ctx := c.Request().Context()
	s := parseLinkSearch(c.QueryParams())
	firstPage := s.query.After == "" && s.query.Before == ""
	if c.QueryParam("tab_counts") == "1" {
		return a.linksTabCounts(c, s)
	}
	onlyTerm := s.filter.Q != "" && !s.query.NeedsAttention && len(s.query.Statuses) == 0 && s.query.Currency == "" && s.query.CreatedBy == 0 &&
		s.query.CreatedFrom.IsZero() && s.query.CreatedTo.IsZero() && s.query.ExpiresFrom.IsZero() && s.query.ExpiresTo.IsZero()
	// Live search (htmx, as staff type) never navigates; pressing Enter
	// does, with JavaScript (app.js marks the submit) or without.
	if firstPage && onlyTerm && (!isHTMX(c) || searchSubmitted(c)) && !s.refused {
		if id, ok, err := a.store.SingleReferenceHit(ctx, s.filter.Q); err != nil {
			return err
		} else if ok {
			return a.redirect(c, a.url(RouteLink, id))
		}
	}
	// The total is counted on the first page and carried in the page links,
	// so a deep page costs one keyset query, not a count of 10,000 rows.
	// When the page's rows needed no substring search (a typed reference
	// prefix), the count that would need it is deferred: the page lists at
	// once and loads the total just after (/links/count), or, without
	// JavaScript, offers it as a link (count=1 counts in the page).
	total := -1
	if !firstPage {
		if n, err := strconv.Atoi(c.QueryParam("total")); err == nil && n >= 0 {
			total = n
		}
	}
	if total < 0 {
		s.query.CountUpTo = countCap
		s.query.DeferTotal = c.QueryParam("count") == ""
	}
	s.query.WalkBudget, s.query.ListOnly = searchWalkBudget, true
	// A term that needs the substring tier or a walk takes an admission
	// slot first (handlers/admission.go); a count asked for in the page
	// (count=1) already holds one.
	take, done := a.lazyAdmission()
	defer done()
	if admissionClass(c) == "" {
		s.query.Expensive = take
	}
	var page db.SearchPage
	var err error
	if s.refused {
		total = 0 // nothing searched: no deferred count either
	} else {
		page, err = a.store.SearchLinks(ctx, s.query)
	}
	if errors.Is(err, errBusy) {
		return a.busy(c, classSearch, err)
	}
	if errors.Is(err, db.ErrSearchTooBroad) {
		// Say so beside the box, keep what was typed, list nothing.
		s.filter.Errors["q"] = "More than 10,000 links match, spread through the whole list. Type more of the reference or email, or add a date range or status."
		page, total, err = db.SearchPage{}, countCap+1, nil
	}
	if err != nil {
		return err
	}
	if total < 0 {
		total = page.Total
	}
	base := a.url(RouteLinks)
	vals := s.values()
	p := views.LinksPage{
		Layout: a.layout(c, "Payment links", "links"), Action: base, Filter: s.filter,
		ClearURL: base, Searched: s.searched(), ShortTerm: shortTerm(s.filter.Q), Refused: s.refused,
		ExportCSV: withQuery(a.url(RouteLinksCSV), vals), ExportXLSX: withQuery(a.url(RouteLinksXLSX), vals),
		Statuses: a.statusOptions(), Currencies: a.currencyOptions, Sorts: []views.Option{
			{Value: db.SortCreated, Label: "Newest first"}, {Value: db.SortAmount, Label: "Largest amount first"},
			{Value: db.SortStatus, Label: "Status"}},
	}
	if total >= 0 {
		p.Total = formatCount(total, countCap)
	} else {
		p.TotalURL = withQuery(a.url(RouteLinksCount), vals)
		v := s.values()
		v.Set("count", "1")
		p.CountURL = withQuery(base, v)
	}
	users, err := a.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		p.Creators = append(p.Creators, views.Option{Value: strconv.FormatInt(u.ID, 10), Label: u.Name})
	}
	if st, ok := a.store.(apiStore); ok { // API keys create links too (handlers/api.go)
		keys, err := st.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			p.Creators = append(p.Creators, views.Option{Value: strconv.FormatInt(k.UserID, 10), Label: db.APIKeyUserName(k.Name)})
		}
	}
	canWrite := hasRole(c, paylink.RoleFinance)
	for _, l := range page.Links {
		p.Rows = append(p.Rows, a.listRow(c, l))
	}
	if canWrite {
		p.BatchEmail = &views.BatchEmailForm{Action: a.url(RouteLinksEmail), FormToken: newFormToken(),
			CancelAction: a.url(RouteLinksCancel), Back: c.Request().URL.RequestURI()}
		for _, r := range links.CancelReasons {
			p.BatchEmail.Reasons = append(p.BatchEmail.Reasons, views.Option{Value: r.Value, Label: r.Label})
		}
	}
	// The rows' positions ride in the page links as the total does (start,
	// the first row's position), for "51–100 of 1,234". Keyset pages know
	// no offset: links made meanwhile may shift a deep page's numbers by
	// a few, which a fresh search puts right.
	start := 0
	if firstPage {
		start = 1
	} else if n, err := strconv.Atoi(c.QueryParam("start")); err == nil && n >= 1 && n <= math.MaxInt32 {
		start = n
	}
	if s.query.Before != "" && page.Prev == "" && len(page.Links) > 0 {
		start = 1 // back at the top
	}
	p.Range = rowRange(start, len(page.Links))
	pageURL := func(key, cursor string, from int) string {
		v := s.values()
		v.Set(key, cursor)
		if start > 0 {
			v.Set("start", strconv.Itoa(max(from, 1)))
		}
		if total >= 0 {
			v.Set("total", strconv.Itoa(total))
		}
		return withQuery(base, v)
	}
	if page.Next != "" {
		p.NextURL = pageURL("after", page.Next, start+len(page.Links))
	}
	if page.Prev != "" {
		p.PrevURL = pageURL("before", page.Prev, start-linksPerPage)
	}
	if canWrite {
		p.NewURL, p.ImportURL = a.url(RouteLinkNew), a.url(RouteImport)
	}
	p.Tabs = statusTabs(base, s)
	if !s.refused {
		if err := a.listLive(c, s, &p); err != nil {
			return err
		}
	}
	if err := a.savedViews(c, s, &p); err != nil {
		return err
	}
	if c.QueryParam("count") != "" && !s.refused {
		if err := a.countTabs(c, s, p.Tabs); err != nil {
			return err
		}
	} else if !s.refused {
		v := s.values()
		v.Set("tab_counts", "1")
		p.TabCountsURL = withQuery(base, v)
		v = s.values()
		v.Set("count", "1")
		p.CountURL = withQuery(base, v)
	}
	if wantsFragment(c) {
		return a.render(c, http.StatusOK, views.LinksFragment(p))
	}
	return a.render(c, http.StatusOK, views.Links(p))
}

// tabDefs are the list's status tabs, in the order a finance clerk works
// through them. A tab is the status filter (status=…); Needs attention is
// its own filter (attention=1: errors and flagged links).
var tabDefs = []struct{ key, label string }{
	{"all", "All"}, {string(paylink.StatusOpen), "Open"}, {string(paylink.StatusProcessing), "Processing"},
	{string(paylink.StatusPaid), "Paid"}, {string(paylink.StatusSettled), "Settled"}, {"attention", "Needs attention"},
	{string(paylink.StatusFailed), "Failed"}, {string(paylink.StatusExpired), "Expired"},
	{string(paylink.StatusCancelled), "Cancelled"},
}

// tabSearch is s on a tab: its status filter (or Needs attention) in place
// of the one chosen, every other term and filter kept.
func tabSearch(s linkSearch, key string) linkSearch {
	s.filter.Statuses, s.query.Statuses = map[string]bool{}, nil
	s.filter.Attention, s.query.NeedsAttention = false, false
	switch key {
	case "all":
	case "attention":
		s.filter.Attention, s.query.NeedsAttention = true, true
	default:
		s.filter.Statuses[key] = true
		s.query.Statuses = []paylink.Status{paylink.Status(key)}
	}
	return s
}

// statusTabs are the tabs of the search s, each a link to the search on
// that tab; the current one is the tab whose filter s has exactly.
func statusTabs(base string, s linkSearch) []views.StatusTab {
	out := make([]views.StatusTab, 0, len(tabDefs))
	for _, d := range tabDefs {
		cur := false
		switch d.key {
		case "all":
			cur = len(s.filter.Statuses) == 0 && !s.filter.Attention
		case "attention":
			cur = len(s.filter.Statuses) == 0 && s.filter.Attention
		default:
			cur = len(s.filter.Statuses) == 1 && s.filter.Statuses[d.key] && !s.filter.Attention
		}
		out = append(out, views.StatusTab{Key: d.key, Label: d.label, Current: cur,
			URL: withQuery(base, tabSearch(s, d.key).values())})
	}
	return out
}

// countTabs counts each tab's links (the search and filters on that tab),
// up to the cap, as the total is. The counts are read when asked for (see
// linksTabCounts), but for the list with no term and no filter, whose
// status counts are kept figures (keptTabCounts).
func (a *app) countTabs(c echo.Context, s linkSearch, tabs []views.StatusTab) error {
	kept, err := a.keptTabCounts(c.Request().Context(), s)
	if err != nil {
		return err
	}
	for i := range tabs {
		if n, ok := kept[tabs[i].Key]; ok {
			tabs[i].Count = formatCount(n, countCap)
			continue
		}
		n, err := a.store.CountSearch(c.Request().Context(), tabSearch(s, tabs[i].Key).query, countCap)
		if err != nil {
			return err
		}
		tabs[i].Count = formatCount(n, countCap)
	}
	return nil
}

// keptTabCounts are, for a list with no term and no filter (the tab and
// the order aside), All and each status tab's count from the kept
// per-status figures (db/figures.go) instead of counts of links; nil for
// any other list. Needs attention is not a status: it is always counted.
func (a *app) keptTabCounts(ctx context.Context, s linkSearch) (map[string]int, error) {
	q := tabSearch(s, "all").query
	q.Sort, q.After, q.Before, q.Limit, q.CountUpTo, q.DeferTotal, q.WalkBudget, q.ListOnly = "", "", "", 0, 0, false, 0, false
	if !reflect.DeepEqual(q, db.LinkQuery{}) {
		return nil, nil
	}
	totals, err := a.store.StatusTotals(ctx)
	if err != nil {
		return nil, err
	}
	kept := map[string]int{"all": 0}
	for _, st := range paylink.Statuses {
		kept[string(st)] = 0
	}
	for _, t := range totals {
		kept[t.Status] += t.Links
		kept["all"] += t.Links
	}
	return kept, nil
}

// linksTabCounts answers the tab counts a list page deferred, all in one
// request (tab_counts=1), each into its tab out of band.
//
// Deferred rather than maintained: a tab's count depends on the search
// term and every filter, so counts kept per status (in the transaction
// that changes a status) would answer only the unfiltered list, and a
// search would need this count anyway. Counting after the page, capped at
// 10,000 like the total, never holds up the rows (docs/performance.md).
func (a *app) linksTabCounts(c echo.Context, s linkSearch) error {
	tabs := statusTabs(a.url(RouteLinks), s)
	if !s.refused {
		if err := a.countTabs(c, s, tabs); err != nil {
			return err
		}
	}
	return a.render(c, http.StatusOK, views.LinksTabCounts(tabs))
}

// linksCount answers the total a list page deferred (see links): the
// number of links its search and filters select, as the page shows it.
func (a *app) linksCount(c echo.Context) error {
	s := parseLinkSearch(c.QueryParams())
	if s.refused {
		return a.render(c, http.StatusOK, views.LinksTotal("0"))
	}
	n, err := a.store.CountSearch(c.Request().Context(), s.query, countCap)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.LinksTotal(formatCount(n, countCap)))
}

func (a *app) statusOptions() []views.Option {
	out := make([]views.Option, len(allStatuses))
	for i, s := range allStatuses {
		out[i] = views.Option{Value: string(s), Label: string(s)}
	}
	return out
}
