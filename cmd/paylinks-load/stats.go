package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Route labels: requests are reported by route, not by URL.
const (
	rLoginForm = "GET /login"
	rLogin     = "POST /login"
	rDashboard = "GET /"
	rLinks     = "GET /links"
	rLinksNext = "GET /links?after (next page)"
	rSearch    = "GET /links?q"
	rCount     = "GET /links/count (deferred total)"
	rLink      = "GET /links/{id}"
	rLinkQR    = "GET /links/{id}/qr.png"
	rWebhook   = "POST /webhooks/stablemint"
	// The open lists of -live-lists (livelist.go), apart from the users'.
	rLiveOpen = "GET /links (open list, loaded once)"
	rLive     = "GET /links/live (open lists)"
)

// routeOrder is the table's row order; the search kinds follow rSearch.
var routeOrder = []string{rLoginForm, rLogin, rDashboard, rLinks, rLinksNext, rSearch, rCount, rLink, rLinkQR, rWebhook, rLiveOpen, rLive}

// Search kinds, reported under rSearch.
const (
	qReference = "exact reference"
	qInvoice   = "invoice no. prefix"
	qEmail     = "email substring"
	qAmount    = "amount"
	qTyping    = "partial (live search)"
)

var searchKinds = []string{qReference, qInvoice, qEmail, qAmount, qTyping}

// routeStats is what one route (or one search kind) saw.
type routeStats struct {
	lat      []time.Duration // of every request that got a response
	statuses map[int]int
	n        int
	non23    int // status not 2xx or 3xx
	s5xx     int
	errs     int // no response: transport error or timeout
	bad      int // 2xx/3xx, but not what a browser expects
	busy     int // answered busy on purpose (see whyBusy); not a failure
}

// whyBusy, passed as add's why, marks a response paylinks answered busy
// on purpose (an expensive request refused while others ran: a 503 with
// Retry-After, or an htmx fragment saying so). It is counted apart and
// does not fail the run.
const whyBusy = "\x00busy"

// recorder collects every request's outcome. It is safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	routes   map[string]*routeStats
	kinds    map[string]*routeStats // search kinds
	examples []string               // the first few distinct failures, for the report
	exampleN map[string]int         // how often each happened
	dropped  int                    // webhooks not sent: too many in flight
	resent   map[string]int         // requests the HTTP client resent, by route
	// webhook events acknowledged as new, by eventId: more than once means
	// an event was processed twice
	fresh    map[string]int
	dupAcked int // deliveries acknowledged as duplicates
}

func newRecorder() *recorder {
	return &recorder{routes: map[string]*routeStats{}, kinds: map[string]*routeStats{}, fresh: map[string]int{}, exampleN: map[string]int{}, resent: map[string]int{}}
}

func (s *routeStats) add(d time.Duration, status int, err error, bad, busy bool) {
	if s.statuses == nil {
		s.statuses = map[int]int{}
	}
	s.n++
	switch {
	case busy:
		s.busy++
	case err != nil:
		s.errs++
		return
	case status >= 500:
		s.s5xx++
		s.non23++
	case status < 200 || status >= 400:
		s.non23++
	case bad:
		s.bad++
	}
	s.statuses[status]++
	s.lat = append(s.lat, d)
}

// add records one request: its latency (to the last body byte), status
// (0 with err) and, for a 2xx/3xx, whether it was unexpected (why, or "").
// kind is the search kind for rSearch, else "".
func (r *recorder) add(route, kind string, d time.Duration, status int, err error, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := r.routes[route]
	if rs == nil {
		rs = &routeStats{}
		r.routes[route] = rs
	}
	busy := why == whyBusy
	if busy {
		why = ""
	}
	rs.add(d, status, err, why != "", busy)
	if kind != "" {
		ks := r.kinds[kind]
		if ks == nil {
			ks = &routeStats{}
			r.kinds[kind] = ks
		}
		ks.add(d, status, err, why != "", busy)
	}
	if !busy && (err != nil || status >= 400 || status < 200 || why != "") {
		msg := fmt.Sprintf("%s: status %d", route, status)
		switch {
		case err != nil:
			msg = fmt.Sprintf("%s: %v", route, err)
		case why != "":
			msg += ": " + why
		}
		if _, ok := r.exampleN[msg]; !ok && len(r.examples) < 10 {
			r.examples = append(r.examples, msg)
		}
		r.exampleN[msg]++
	}
}

// retried records that the HTTP client resent a request of route n times
// (a reused connection closed before any answer).
func (r *recorder) retried(route string, n int) {
	r.mu.Lock()
	r.resent[route] += n
	r.mu.Unlock()
}

func (r *recorder) drop() {
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
}

// webhookAcked records a 200 for a delivery of event id: new, or a
// duplicate of one already stored.
func (r *recorder) webhookAcked(id string, duplicate bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if duplicate {
		r.dupAcked++
	} else {
		r.fresh[id]++
	}
}

// webhookCounts reports distinct events acknowledged as new, those
// acknowledged as new more than once, and duplicate acknowledgements.
func (r *recorder) webhookCounts() (events, twice, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.fresh {
		events++
		if n > 1 {
			twice++
		}
	}
	return events, twice, r.dupAcked
}

// summary is one row of the table.
type summary struct {
	Name                      string
	N, Non23, S5xx, Errs, Bad int
	Busy                      int
	P50, P99, Max             time.Duration
	Statuses                  map[int]int
	PerSec                    float64
	Indent                    bool
}

func summarise(name string, s *routeStats, window time.Duration) summary {
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	sum := summary{Name: name, N: s.n, Non23: s.non23, S5xx: s.s5xx, Errs: s.errs, Bad: s.bad, Busy: s.busy, Statuses: s.statuses,
		P50: percentile(lat, 50), P99: percentile(lat, 99)}
	if len(lat) > 0 {
		sum.Max = lat[len(lat)-1]
	}
	if window > 0 {
		sum.PerSec = float64(s.n) / window.Seconds()
	}
	return sum
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// openListRoutes are the requests of -live-lists' open lists.
var openListRoutes = []string{rLiveOpen, rLive}

// usersTotal names the total without the open lists' requests, shown when
// there were some: the figure to compare with a run without them.
const usersTotal = "users' and webhooks' requests"

// rows summarises every route in table order, the search kinds indented
// under the search, then routes the order does not know, then, when open
// lists ran, the total without their requests, then the total.
func (r *recorder) rows(window time.Duration) []summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []summary
	seen := map[string]bool{}
	total := &routeStats{statuses: map[int]int{}}
	users := &routeStats{statuses: map[int]int{}}
	openLists := false
	addRoute := func(name string) {
		s, ok := r.routes[name]
		if !ok {
			return
		}
		seen[name] = true
		out = append(out, summarise(name, s, window))
		totals := []*routeStats{total, users}
		if slices.Contains(openListRoutes, name) {
			totals, openLists = totals[:1], true
		}
		for _, t := range totals {
			t.n += s.n
			t.non23 += s.non23
			t.s5xx += s.s5xx
			t.errs += s.errs
			t.bad += s.bad
			t.busy += s.busy
			t.lat = append(t.lat, s.lat...)
			for k, v := range s.statuses {
				t.statuses[k] += v
			}
		}
		if name == rSearch {
			for _, k := range searchKinds {
				if ks, ok := r.kinds[k]; ok {
					row := summarise("  "+k, ks, window)
					row.Indent = true
					out = append(out, row)
				}
			}
		}
	}
	for _, name := range routeOrder {
		addRoute(name)
	}
	var rest []string
	for name := range r.routes {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		addRoute(name)
	}
	if openLists {
		out = append(out, summarise(usersTotal, users, window))
	}
	out = append(out, summarise("all requests", total, window))
	return out
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtBytes(n int64) string {
	if n <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// fmtStatuses writes the non-2xx/3xx statuses, "404×3 429×12".
func fmtStatuses(m map[int]int) string {
	var codes []int
	for c := range m {
		if c < 200 || c >= 400 {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, m[c]))
	}
	return strings.Join(parts, " ")
}

func joinLines(ss []string) string { return strings.Join(ss, "; ") }
