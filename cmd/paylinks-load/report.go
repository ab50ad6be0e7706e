package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// report is a finished run.
type report struct {
	cfg        config
	dbPath     string
	workDir    string
	logPath    string
	pid        int
	links      int64
	seeded     bool
	usersSetup time.Duration

	rec         *recorder
	window      time.Duration
	serverCPU   time.Duration
	selfCPU     time.Duration
	mem         memFigures
	serverDied  string
	interrupted bool
	dbBytes     int64
	walBytes    int64
	profileErr  error

	cleanStop bool
	stopErr   error
	stopTook  time.Duration
	log       logSummary
}

func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\npaylinks load test: %d users (think %s–%s, sign-in ramp %s), %g webhooks/s from %d source address(es), %s window\n",
		c.Users, c.ThinkMin, c.ThinkMax, c.Ramp.Round(time.Millisecond), c.WebhooksPerSec, c.WebhookSources, c.Duration)
	if c.NoDashboard {
		fmt.Fprintln(w, "mix: the dashboard left out (-no-dashboard)")
	}
	if c.LiveLists > 0 {
		every := c.LiveEvery.String()
		if c.LiveEvery != liveEvery {
			every += " (app.js: every " + liveEvery.String() + ")"
		}
		fmt.Fprintf(w, "open lists: %d Links tabs left on screen (spread over the users' sessions), each asking GET /links/live every %s\n",
			c.LiveLists, every)
	}
	fmt.Fprintf(w, "database %s: %d links", r.dbPath, r.links)
	if r.seeded {
		fmt.Fprint(w, " (seeded by this run)")
	}
	fmt.Fprintf(w, "; %d CPUs here (shared with the load generator)\n\n", runtime.NumCPU())

	rows := r.rec.rows(c.Duration) // requests start only within it
	width := len("route")
	for _, s := range rows {
		width = max(width, len(s.Name))
	}
	line := func(cells ...any) {
		fmt.Fprintf(w, "%-*s %7v %7v %9v %9v %9v %11v %5v %6v %10v %6v  %v\n", append([]any{width}, cells...)...)
	}
	line("route", "count", "req/s", "p50", "p99", "max", "non-2xx/3xx", "5xx", "errors", "unexpected", "busy", "statuses")
	for _, s := range rows {
		if s.Name == usersTotal || (s.Name == "all requests" && rows[max(0, len(rows)-2)].Name != usersTotal) {
			fmt.Fprintln(w, strings.Repeat("-", width+85))
		}
		line(s.Name, s.N, fmt.Sprintf("%.1f", s.PerSec), fmtDur(s.P50), fmtDur(s.P99), fmtDur(s.Max),
			s.Non23, s.S5xx, s.Errs, s.Bad, s.Busy, fmtStatuses(s.Statuses))
	}
	fmt.Fprintln(w, "(req/s: requests started per second of the window; latency to the last byte of the body; errors: no response (transport, or no answer within -request-timeout); unexpected: a 2xx/3xx a browser would not expect; busy: an expensive request answered \"busy, try again\" on purpose (a 503 page with Retry-After, or an htmx fragment saying so), counted in statuses but not as a failure)")

	r.rec.mu.Lock()
	for _, name := range routeOrder {
		if n := r.rec.resent[name]; n > 0 {
			fmt.Fprintf(w, "%s: the HTTP client silently resent %d requests after the server closed a reused connection without answering (as browsers do)\n", name, n)
		}
	}
	r.rec.mu.Unlock()

	events, twice, dups := r.rec.webhookCounts()
	r.rec.mu.Lock()
	dropped := r.rec.dropped
	r.rec.mu.Unlock()
	fmt.Fprintf(w, "\nwebhooks: %d events acknowledged as new, %d deliveries acknowledged as duplicates, %d events processed twice, %d not sent (sender saturated)\n",
		events, dups, twice, dropped)

	m := r.mem
	fmt.Fprintf(w, "\nserver (pid %d) over the %s window and %s for the last requests to finish:\n", r.pid, c.Duration,
		max(0, r.window-c.Duration).Round(100*time.Millisecond))
	fmt.Fprintf(w, "  RSS: %s at start, %s peak (sampled every 1 s, %d samples), %s at end; VmHWM %s\n",
		fmtBytes(m.RSSStart), fmtBytes(m.RSSPeak), m.Samples, fmtBytes(m.RSSEnd), fmtBytes(m.HWM))
	fmt.Fprintf(w, "    of which anonymous (the process's own): %s peak, %s at end; mapped file pages (SQLite mmap of the database, shared with the page cache): %s peak, %s at end\n",
		fmtBytes(m.AnonPeak), fmtBytes(m.AnonEnd), fmtBytes(m.FilePeak), fmtBytes(m.FileEnd))
	fmt.Fprintf(w, "  Go heap (go_memstats_heap_alloc_bytes, every 2 s): %s peak, %s at end; runtime sys %s; goroutines %d peak, %d at end\n",
		fmtBytes(m.HeapPeak), fmtBytes(m.HeapEnd), fmtBytes(m.SysEnd), m.GoroutinesPeak, m.GoroutinesEnd)
	if m.Err != "" {
		fmt.Fprintf(w, "  (sampling: %s)\n", m.Err)
	}
	if r.window > 0 {
		fmt.Fprintf(w, "  CPU: server %.1f s (%.2f cores on average), load generator %.1f s (%.2f cores)\n",
			r.serverCPU.Seconds(), r.serverCPU.Seconds()/r.window.Seconds(), r.selfCPU.Seconds(), r.selfCPU.Seconds()/r.window.Seconds())
	}
	fmt.Fprintf(w, "  database file %s; WAL %s at end, %s peak (sampled every 1 s)\n", fmtBytes(r.dbBytes), fmtFileBytes(r.walBytes), fmtFileBytes(m.WALPeak))
	if c.CPUProfile != "" {
		if r.profileErr != nil {
			fmt.Fprintf(w, "  CPU profile: not taken: %v\n", r.profileErr)
		} else {
			fmt.Fprintf(w, "  CPU profile of the server: %s (go tool pprof -top %s)\n", c.CPUProfile, c.CPUProfile)
		}
	}
	stop := "stopped cleanly"
	if !r.cleanStop {
		stop = fmt.Sprint(r.stopErr)
	}
	fmt.Fprintf(w, "  shutdown: %s in %s\n", stop, r.stopTook.Round(10*time.Millisecond))
	l := r.log
	fmt.Fprintf(w, "  log %s: %d lines, %d ERROR, %d WARN", r.logPath, l.Lines, l.Errors, l.Warns)
	if l.Races > 0 {
		fmt.Fprintf(w, ", %d DATA RACE reports", l.Races)
	}
	fmt.Fprintln(w)
	for _, e := range l.FirstErrors {
		fmt.Fprintf(w, "    ERROR %s\n", e)
	}
	if len(r.rec.examples) > 0 {
		fmt.Fprintln(w, "\nfailures (first distinct ones):")
		for _, e := range r.rec.examples {
			fmt.Fprintf(w, "  %d× %s\n", r.rec.exampleN[e], e)
		}
	}
	if fails := r.failures(); len(fails) > 0 {
		fmt.Fprintln(w, "\nFAIL:")
		for _, f := range fails {
			fmt.Fprintf(w, "  %s\n", f)
		}
	} else {
		fmt.Fprint(w, "\nPASS: no 5xx, no transport errors, no unexpected responses")
		if all := rows[len(rows)-1]; all.Non23 > 0 {
			fmt.Fprintf(w, "; but %d responses were 4xx (%s), which do not fail the run", all.Non23, fmtStatuses(all.Statuses))
		}
		fmt.Fprintln(w)
	}
}

// failures lists what makes the run fail: 5xx, requests without a
// response, unexpected responses, an event processed twice, a server that
// died, did not stop cleanly or raced, and users that never signed in.
func (r *report) failures() []string {
	var out []string
	var total summary
	for _, s := range r.rec.rows(r.cfg.Duration) {
		if s.Name == "all requests" {
			total = s
		}
	}
	if total.S5xx > 0 {
		out = append(out, fmt.Sprintf("%d responses were 5xx", total.S5xx))
	}
	if total.Errs > 0 {
		out = append(out, fmt.Sprintf("%d requests got no response", total.Errs))
	}
	if total.Bad > 0 {
		out = append(out, fmt.Sprintf("%d responses were not what a browser expects", total.Bad))
	}
	if _, twice, _ := r.rec.webhookCounts(); twice > 0 {
		out = append(out, fmt.Sprintf("%d webhook events were acknowledged as new more than once", twice))
	}
	r.rec.mu.Lock()
	logins := 0
	if s := r.rec.routes[rLogin]; s != nil {
		logins = s.statuses[303]
	}
	r.rec.mu.Unlock()
	if logins < r.cfg.Users {
		out = append(out, fmt.Sprintf("only %d of %d users signed in", logins, r.cfg.Users))
	}
	if r.interrupted {
		out = append(out, "interrupted before the window ended")
	}
	if r.serverDied != "" {
		out = append(out, r.serverDied)
	}
	if !r.cleanStop {
		out = append(out, fmt.Sprintf("shutdown: %v", r.stopErr))
	}
	if r.log.Races > 0 {
		out = append(out, fmt.Sprintf("the race detector reported %d data races (see %s)", r.log.Races, r.logPath))
	}
	return out
}

// fmtFileBytes is fmtBytes for a file's size, where 0 is a size (a
// truncated WAL), not a reading that failed.
func fmtFileBytes(n int64) string {
	if n == 0 {
		return "0 B"
	}
	return fmtBytes(n)
}
