package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Row is one line of the table. Missing is set when the figure or the
// baseline it is compared with did not come out of the run.
type Row struct {
	Figure, Value, Baseline, BaseValue, Ratio, Target, Met string
	Missing                                                bool
}

// target is a limit from an issue: on the value, or on value ÷ baseline.
type target struct {
	below   bool // the figure must be below limit; otherwise at least limit
	limit   float64
	onRatio bool
	text    string
}

func (t *target) met(v, ratio float64) bool {
	x := v
	if t.onRatio {
		x = ratio
	}
	if t.below {
		return x < t.limit
	}
	return x >= t.limit
}

// metric names a figure in the run: a benchmark, one of its units, and how
// to show it.
type metric struct {
	bench, unit string
	show        string  // unit shown: "ms", "/s", "s", "MiB"
	scale       float64 // multiply the reported value (ns/op → ms is 1e-6)
}

func (m metric) get(r *Run) (float64, string) {
	v, ok := r.Metric(m.bench, m.unit)
	if !ok {
		return 0, r.Status(m.bench)
	}
	if m.scale != 0 {
		v *= m.scale
	}
	return v, ""
}

// row compares one figure with its baseline (base.bench == "" for none).
func row(r *Run, figure string, val metric, baseLabel string, base metric, t *target) Row {
	out := Row{Figure: figure, Baseline: "—", BaseValue: "—", Ratio: "—", Target: "—", Met: "—"}
	v, why := val.get(r)
	if why != "" {
		out.Value, out.Missing = why, true
	} else {
		out.Value = format(v, val.show)
	}
	var ratio float64
	if base.bench != "" {
		out.Baseline = baseLabel
		bv, bwhy := base.get(r)
		switch {
		case bwhy != "":
			out.BaseValue, out.Missing = bwhy, true
		default:
			out.BaseValue = format(bv, base.show)
			if why == "" && bv != 0 {
				ratio = v / bv
				out.Ratio = sig(ratio) + "×"
			}
		}
	}
	if t != nil {
		out.Target = t.text
		switch {
		case out.Missing:
		case t.onRatio && out.Ratio == "—":
		default:
			out.Met = "no"
			if t.met(v, ratio) {
				out.Met = "yes"
			}
		}
	}
	if out.Missing {
		out.Met = "MISSING"
	}
	return out
}

// format writes v with about three significant figures.
func format(v float64, unit string) string {
	switch unit {
	case "/s":
		if v >= 100 {
			return thousands(int64(math.Round(v))) + "/s"
		}
		return fmt.Sprintf("%.1f/s", v)
	case "ms", "s", "MiB":
		return sig(v) + " " + unit
	}
	return sig(v) + " " + unit
}

func sig(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return thousands(int64(math.Round(v)))
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// A handler/baseline family: sub-benchmarks <family>/<kind>/handler beside
// <family>/<kind>/baseline, with kinds found in the run. Expected kinds
// (matched by prefix) that never appear become missing rows.
type pairFamily struct {
	bench     string // "BenchmarkSearch"
	label     string // "search"
	baseLabel string // "bare SQL + templ render"
	expect    []kindSpec
	metrics   []pairMetric
}

type kindSpec struct {
	prefix string
	// targets by metric unit; nil for none
	targets map[string]*target
	// baseLabel replaces the family's for this kind; optional kinds get no
	// missing row when absent.
	baseLabel string
	optional  bool
}

type pairMetric struct {
	unit, baseUnit string // e.g. "p99-ms" for both; "logins/s" vs "verifies/s"
	show, suffix   string // "ms", " p99"
}

func (f pairFamily) kinds(r *Run) []string {
	var out []string
	prefix := f.bench + "/"
	for _, n := range r.Names() {
		if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, "/handler") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(n, prefix), "/handler"))
		}
	}
	// A baseline whose handler did not come out still shows the kind.
	for _, n := range r.Names() {
		if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, "/baseline") {
			k := strings.TrimSuffix(strings.TrimPrefix(n, prefix), "/baseline")
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

func (f pairFamily) rows(r *Run) []Row {
	var out []Row
	kinds := f.kinds(r)
	for _, k := range kinds {
		var spec kindSpec
		for _, e := range f.expect {
			if strings.HasPrefix(k, e.prefix) {
				spec = e
				break
			}
		}
		baseLabel := f.baseLabel
		if spec.baseLabel != "" {
			baseLabel = spec.baseLabel
		}
		for _, m := range f.metrics {
			out = append(out, row(r, f.label+" "+k+m.suffix,
				metric{bench: f.bench + "/" + k + "/handler", unit: m.unit, show: m.show},
				baseLabel+m.suffix,
				metric{bench: f.bench + "/" + k + "/baseline", unit: m.baseUnit, show: m.show},
				spec.targets[m.unit]))
		}
	}
	for _, e := range f.expect {
		found := e.optional
		for _, k := range kinds {
			found = found || strings.HasPrefix(k, e.prefix)
		}
		if found {
			continue
		}
		for _, m := range f.metrics {
			name := f.bench + "/" + e.prefix
			out = append(out, row(r, f.label+" "+e.prefix+"…"+m.suffix,
				metric{bench: name + "/handler", unit: m.unit, show: m.show},
				f.baseLabel+m.suffix,
				metric{bench: name + "/baseline", unit: m.baseUnit, show: m.show},
				e.targets[m.unit]))
		}
	}
	return out
}

func below(limit float64, text string) *target {
	return &target{below: true, limit: limit, text: text}
}

func atLeast(limit float64, text string) *target {
	return &target{limit: limit, text: text}
}

func p99Below(ms float64, issue string) map[string]*target {
	return map[string]*target{"p99-ms": below(ms, fmt.Sprintf("p99 < %g ms (%s)", ms, issue))}
}

// Table builds every figure of the run, group by group, in the order of
// groups; groups not listed are left out.
func Table(r *Run, groups []string) []Row {
	var out []Row
	for _, g := range groups {
		switch g {
		case "benchdb":
			if _, ok := r.Metric("BenchmarkBenchDB", "seed-s"); ok {
				links, _ := r.Metric("BenchmarkBenchDB", "links")
				var t *target
				if links == 1_000_000 {
					t = below(180, "< 3 min (#6)")
				}
				out = append(out, row(r, fmt.Sprintf("seed bench DB, %s links", thousands(int64(links))),
					metric{bench: "BenchmarkBenchDB", unit: "seed-s", show: "s"}, "", metric{}, t))
			} else if _, ok := r.Get("BenchmarkBenchDB"); !ok {
				out = append(out, row(r, "bench DB ready", metric{bench: "BenchmarkBenchDB", unit: "links"}, "", metric{}, nil))
			}
		case "webhook":
			out = append(out, webhookRows(r)...)
		case "search":
			out = append(out, searchFamily.rows(r)...)
		case "list":
			out = append(out, listFamily.rows(r)...)
		case "tabs":
			out = append(out, tabsFamily.rows(r)...)
		case "tabs-broad":
			out = append(out, tabsBroadFamily.rows(r)...)
		case "live":
			out = append(out, liveFamily.rows(r)...)
		case "cold":
			out = append(out, coldRows(r)...)
		case "mint":
			for _, q := range []string{"p50", "p99"} {
				var t *target
				if q == "p99" {
					t = below(5, "p99 < 5 ms (#4)")
				}
				out = append(out, row(r, "mint: paylinks' own overhead "+q,
					metric{bench: "BenchmarkCreateLink", unit: "own-" + q + "-ms", show: "ms"},
					"whole request incl. StableMint "+q,
					metric{bench: "BenchmarkCreateLink", unit: "request-" + q + "-ms", show: "ms"}, t))
			}
		case "api":
			for _, q := range []string{"p50", "p99"} {
				var create *target
				if q == "p99" {
					create = below(5, "p99 < 5 ms (#20)")
				}
				out = append(out, row(r, "API create: own overhead outside StableMint "+q,
					metric{bench: "BenchmarkAPICreateLink", unit: "api-own-" + q + "-ms", show: "ms"},
					"the form's own overhead, same run "+q,
					metric{bench: "BenchmarkAPICreateLink", unit: "form-own-" + q + "-ms", show: "ms"}, create))
			}
			// What the API adds over the form for the same link, and the
			// disk's share of both: each link is two fsynced commits.
			for _, q := range []string{"p50", "p99"} {
				out = append(out, row(r, "API create: the API's extra over the form, same iteration "+q,
					metric{bench: "BenchmarkAPICreateLink", unit: "api-extra-" + q + "-ms", show: "ms"}, "", metric{}, nil))
			}
			for _, q := range []string{"p50", "p99"} {
				out = append(out, row(r, "the disk: two one-row commits (an fsync each), same run "+q,
					metric{bench: "BenchmarkAPICreateLink", unit: "two-commits-" + q + "-ms", show: "ms"}, "", metric{}, nil))
			}
			for _, q := range []string{"p50", "p99"} {
				var get *target
				if q == "p99" {
					get = below(2, "p99 < 2 ms (#20)")
				}
				out = append(out, row(r, "API GET by StableMint reference "+q,
					metric{bench: "BenchmarkAPIGetByReference", unit: "handler-" + q + "-ms", show: "ms"},
					"store lookup + JSON "+q,
					metric{bench: "BenchmarkAPIGetByReference", unit: "baseline-" + q + "-ms", show: "ms"}, get))
			}
		case "passwords":
			out = append(out, row(r, "argon2id hash (m=19 MiB, t=2, p=1)",
				metric{bench: "BenchmarkHash", unit: "ns/op", show: "ms", scale: 1e-6}, "", metric{},
				below(1000, "< 1 s (docs/security.md A1)")))
			out = append(out, loginFamily.rows(r)...)
		case "dashboard":
			// The baseline is its own group (a few seconds an iteration at
			// a million links); without it the figures stand alone.
			base, baseLabel := metric{}, ""
			if slices.Contains(groups, "dashboard-old") {
				base.bench, baseLabel = "BenchmarkDashboardFiguresFromLinks", "old queries over the links"
			}
			for _, q := range []string{"p50", "p99"} {
				var t *target
				if q == "p99" {
					t = below(100, "p99 < 100 ms (#19)")
				}
				b := base
				if b.bench != "" {
					b.unit, b.show = q+"-ms", "ms"
				}
				out = append(out, row(r, "dashboard figures "+q,
					metric{bench: "BenchmarkDashboardFigures", unit: q + "-ms", show: "ms"}, baseLabel+" "+q, b, t))
			}
		case "outbound":
			out = append(out,
				row(r, "outbound delivery of 1,000 events, every attempt recorded",
					metric{bench: "BenchmarkDeliver1000", unit: "deliveries/s", show: "/s"},
					"the same 1,000 POSTs sent directly, 4 at once",
					metric{bench: "BenchmarkBaselineDirectPosts1000", unit: "deliveries/s", show: "/s"},
					atLeast(500, "≥ 500/s (#20)")),
				row(r, "outbound delivery, CPU per delivery",
					metric{bench: "BenchmarkDeliver1000", unit: "cpu-µs/delivery", show: "µs"},
					"the same POSTs sent directly",
					metric{bench: "BenchmarkBaselineDirectPosts1000", unit: "cpu-µs/delivery", show: "µs"}, nil))
		case "import":
			for _, f := range []struct{ kind, bench, base, baseLabel string }{
				{"CSV", "BenchmarkParseCheck10000CSV", "BenchmarkBaselineEncodingCSV10000", "encoding/csv alone"},
				{"XLSX", "BenchmarkParseCheck10000XLSX", "BenchmarkBaselineExcelize10000", "excelize alone"},
			} {
				out = append(out,
					row(r, "import: parse + check 10,000 "+f.kind+" rows",
						metric{bench: f.bench, unit: "ns/op", show: "s", scale: 1e-9}, f.baseLabel,
						metric{bench: f.base, unit: "ns/op", show: "s", scale: 1e-9}, below(2, "< 2 s (#21)")),
					row(r, "import: parse + check 10,000 "+f.kind+" rows, peak heap growth",
						metric{bench: f.bench, unit: "peak-heap-growth-MiB", show: "MiB"}, f.baseLabel,
						metric{bench: f.base, unit: "peak-heap-growth-MiB", show: "MiB"}, below(64, "< 64 MiB (#21)")))
			}
		case "batch":
			out = append(out, row(r, "import: minting against the sandbox, 4 in flight",
				metric{bench: "BenchmarkBatchMint200", unit: "links/s", show: "/s"},
				"the same number of direct client calls, 4 in flight",
				metric{bench: "BenchmarkBaselineDirectCalls200", unit: "links/s", show: "/s"}, atLeast(30, "≥ 30/s (#21)")))
		case "export":
			links, _ := r.Metric("BenchmarkBenchDB", "links")
			var inTime *target
			if links == 0 || links == 1_000_000 {
				inTime = below(15, "< 15 s for 1M (#6)")
			}
			out = append(out,
				row(r, "CSV export, rows per second", metric{bench: "BenchmarkExportCSV", unit: "rows/s", show: "/s"}, "", metric{},
					atLeast(1e6/15, "≥ 66,667/s (1M in 15 s, #6)")),
				row(r, "CSV export, all rows", metric{bench: "BenchmarkExportCSV", unit: "export-s", show: "s"}, "", metric{}, inTime),
				row(r, "CSV export, peak heap growth", metric{bench: "BenchmarkExportCSV", unit: "peak-heap-growth-MiB", show: "MiB"}, "", metric{},
					below(64, "< 64 MiB (#6)")))
		}
	}
	return out
}

// webhookRows: every BenchmarkWebhookIngest sub-benchmark beside its
// baseline sub-benchmark, with the webhook targets for serial and 8-senders.
func webhookRows(r *Run) []Row {
	const fam = "BenchmarkWebhookIngest/"
	base := metric{bench: fam + "baseline", unit: "deliveries/s", show: "/s"}
	baseLabel := "raw verify + insert, serial"
	known := []struct {
		sub, label string
		t          *target
	}{
		{"serial", "webhook ingest, serial", &target{limit: 0.5, onRatio: true, text: "≥ 0.5× baseline (#5)"}},
		{"8-senders", "webhook ingest, 8 senders", &target{limit: 3, onRatio: true, text: "≥ 3× baseline (#5)"}},
	}
	var out []Row
	for _, k := range known {
		out = append(out, row(r, k.label, metric{bench: fam + k.sub, unit: "deliveries/s", show: "/s"}, baseLabel, base, k.t))
	}
	for _, n := range r.Names() {
		sub, ok := strings.CutPrefix(n, fam)
		if !ok || sub == "baseline" || sub == "serial" || sub == "8-senders" {
			continue
		}
		out = append(out, row(r, "webhook ingest, "+sub, metric{bench: n, unit: "deliveries/s", show: "/s"}, baseLabel, base, nil))
	}
	return out
}

var searchFamily = pairFamily{
	bench: "BenchmarkSearch", label: "search", baseLabel: "bare SQL + templ render",
	expect: []kindSpec{
		{prefix: "exact-website", targets: p99Below(2, "#6")},
		{prefix: "exact-stablemint", targets: p99Below(2, "#6")},
		{prefix: "exact-email", optional: true}, // not one of #6's targets
		// The total a prefix page defers, loaded just after it.
		{prefix: "prefix-total", baseLabel: "bare FTS5 phrase count", optional: true},
		// The totals the email searches' pages defer.
		{prefix: "email-local-total", baseLabel: "bare FTS5 phrase count", optional: true},
		{prefix: "email-surname-total", baseLabel: "bare FTS5 phrase count", optional: true},
		{prefix: "email-part-total", baseLabel: "bare FTS5 phrase count", optional: true},
		{prefix: "prefix", targets: p99Below(3, "#6")},
		{prefix: "substring", targets: p99Below(40, "#6")},
		{prefix: "keyset", targets: p99Below(5, "#6")},
	},
	metrics: []pairMetric{{unit: "p99-ms", baseUnit: "p99-ms", show: "ms", suffix: " p99"}},
}

var listFamily = pairFamily{
	bench: "BenchmarkListPage", label: "link list", baseLabel: "bare Echo+templ, same rows",
	expect: []kindSpec{
		{prefix: "first-page", targets: p99Below(5, "#6")},
		{prefix: "deep-page", targets: p99Below(5, "#6")},
	},
	metrics: []pairMetric{
		{unit: "p50-ms", baseUnit: "p50-ms", show: "ms", suffix: " p50"},
		{unit: "p99-ms", baseUnit: "p99-ms", show: "ms", suffix: " p99"},
	},
}

// liveFamily: the list's live question every 10 s (rows by id, links made
// since), changed (2 rows sent, 3 new) and unchanged (204).
var liveFamily = pairFamily{
	bench: "BenchmarkListLive", label: "list live update", baseLabel: "bare Echo + id lookup + templ",
	expect: []kindSpec{
		{prefix: "changed", targets: p99Below(2, "#18")},
		{prefix: "unchanged", targets: p99Below(2, "#18")},
	},
	metrics: []pairMetric{{unit: "p99-ms", baseUnit: "p99-ms", show: "ms", suffix: " p99"}},
}

// tabsFamily: a status tab's first page, and the nine tab counts the
// unfiltered list page defers (tab_counts=1), each beside the list page,
// through the real handler; tabsBroadFamily: the counts of a broad
// search (the kind names the term) beside that search's list page.
var tabsFamily = pairFamily{
	bench: "BenchmarkTabCounts", label: "tabs:", baseLabel: "the list page (All), same run",
	expect: []kindSpec{
		{prefix: "tab-page", targets: p99Below(5, "#18")},
		{prefix: "counts-no-term"},
	},
	metrics: tabMetrics,
}

var tabsBroadFamily = pairFamily{
	bench: "BenchmarkTabCountsBroad", label: "tabs:", baseLabel: "the list page of the same search",
	expect:  []kindSpec{{prefix: "counts-broad-term"}},
	metrics: tabMetrics,
}

var tabMetrics = []pairMetric{
	{unit: "p50-ms", baseUnit: "p50-ms", show: "ms", suffix: " p50"},
	{unit: "p99-ms", baseUnit: "p99-ms", show: "ms", suffix: " p99"},
}

// coldRows: the first dashboard and list request of a freshly opened
// store after the kernel's page cache was dropped, beside the same request
// warm (made again just after, in the same iteration).
func coldRows(r *Run) []Row {
	var out []Row
	for _, c := range []struct{ bench, page string }{
		{"BenchmarkDashboardCold", "dashboard (GET /)"},
		{"BenchmarkListPageCold", "link list (GET /links)"},
	} {
		n := ""
		if res, ok := r.Get(c.bench); ok {
			n = fmt.Sprintf(" of %d", res.N)
		}
		warm := metric{bench: c.bench, unit: "warm-p50-ms", show: "ms"}
		out = append(out,
			row(r, c.page+", first request, page cache dropped (cold), median"+n, metric{bench: c.bench, unit: "cold-p50-ms", show: "ms"},
				"the same request warm p50", warm, nil),
			row(r, c.page+", first request, page cache dropped (cold), worst"+n, metric{bench: c.bench, unit: "cold-max-ms", show: "ms"},
				"the same request warm p50", warm, nil))
	}
	return out
}

var loginFamily = pairFamily{
	bench: "BenchmarkLogin", label: "logins per second,", baseLabel: "bare argon2id verifies/s",
	expect:  []kindSpec{{prefix: "serial"}, {prefix: "parallel"}},
	metrics: []pairMetric{{unit: "logins/s", baseUnit: "verifies/s", show: "/s"}},
}

// Render writes rows as a Markdown table, columns padded so it reads in a
// terminal too.
func Render(w io.Writer, rows []Row) {
	head := []string{"figure", "value", "baseline", "baseline value", "ratio", "target", "met?"}
	cells := [][]string{head}
	for _, r := range rows {
		cells = append(cells, []string{r.Figure, r.Value, r.Baseline, r.BaseValue, r.Ratio, r.Target, r.Met})
	}
	width := make([]int, len(head))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			pad := width[i] - utf8.RuneCountInString(s)
			if i >= 1 && i != 2 && i != 5 && i != 6 { // numbers right-aligned
				b.WriteString(" " + strings.Repeat(" ", pad) + s + " |")
			} else {
				b.WriteString(" " + s + strings.Repeat(" ", pad) + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	fmt.Fprintln(w, "|-"+strings.Join(sep, "-|-")+"-|")
	for _, c := range cells[1:] {
		line(c)
	}
}
