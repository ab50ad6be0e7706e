package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/handlers-20k.txt is real output of
// go test -run '^$' -bench . -benchtime 20x -benchmem ./handlers
// on a 20,000-link bench database (2 CPUs); the BenchmarkListLive lines
// come from a later run of the same command (-bench BenchmarkListLive),
// the two BenchmarkAPI lines from make bench's api group (1000x, on a
// 1,000,000-link database).
// testdata/groups-20k.txt is the raw output (-raw) of
// go run ./cmd/paylinks-bench -groups benchdb,tabs,tabs-broad,cold,outbound,import,batch
// with -benchtime tabs=20x,tabs-broad=5x and 2x for the others, on
// another 20,000-link database, while a load test ran beside it: the
// groups of four packages, each binary's header and the harness's own
// lines between them.
func sampleRun(t *testing.T) *Run {
	t.Helper()
	var r Run
	for _, name := range []string{"testdata/handlers-20k.txt", "testdata/groups-20k.txt"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Parse(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return &r
}

func TestParseSample(t *testing.T) {
	r := sampleRun(t)
	// handlers-20k.txt: 27 + two API (#20) + two dashboard (#19) + four
	// live-update (#18) benchmarks; groups-20k.txt: bench DB, four tab
	// (#18), two tab broad, two cold, two outbound (#20), four import
	// and two minting (#21) benchmarks.
	if got, want := len(r.Results), 35+17; got != want {
		t.Fatalf("results: got %d, want %d", got, want)
	}
	if r.CPU != "Oxide Virtual Turin-like Processor" { // the last file's; handlers-20k.txt says "AMD EPYC"
		t.Errorf("cpu: got %q", r.CPU)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkBenchDB", "links", 20000},
		{"BenchmarkListPage/first-page/handler", "p99-ms", 5.309},
		{"BenchmarkListPage/deep-page/baseline", "KiB/page", 33.08},
		{"BenchmarkCreateLink", "own-p99-ms", 3.612},
		{"BenchmarkCreateLink", "request-p50-ms", 3.848},
		{"BenchmarkHash", "ns/op", 20540796},
		{"BenchmarkHash", "B/op", 19925704},
		{"BenchmarkLogin/parallel/baseline", "verifies/s", 60.00},
		{"BenchmarkSearch/exact-stablemint-ref/baseline", "p50-ms", 0.028},
		{"BenchmarkSearch/keyset-page/handler", "allocs/op", 6445},
		{"BenchmarkExportCSV", "rows/s", 88924},
		{"BenchmarkExportCSV", "peak-heap-growth-MiB", 7.515},
		{"BenchmarkExportCSV", "export-s", 0.2249},
		{"BenchmarkWebhookIngest/8-senders", "deliveries/s", 792.6},
		{"BenchmarkWebhookIngest/baseline", "x-baseline", 1},
		{"BenchmarkTabCounts/counts-no-term/handler", "p99-ms", 13.84},
		{"BenchmarkTabCountsBroad/counts-broad-term-torvalds/baseline", "p50-ms", 15.22},
		{"BenchmarkListPageCold", "cold-max-ms", 130.0},
		{"BenchmarkDashboardCold", "cold-read-MiB", 14.76},
		{"BenchmarkDeliver1000", "cpu-µs/delivery", 2195},
		{"BenchmarkBaselineDirectPosts1000", "deliveries/s", 1679},
		{"BenchmarkParseCheck10000XLSX", "peak-heap-growth-MiB", 34.44},
		{"BenchmarkBaselineEncodingCSV10000", "ns/op", 8430804},
		{"BenchmarkBatchMint200", "links/s", 95.59},
	} {
		got, ok := r.Metric(c.name, c.unit)
		if !ok || got != c.want {
			t.Errorf("%s %s: got %v (found %v), want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	res, _ := r.Get("BenchmarkHash")
	if res.N != 20 || res.Procs != 2 {
		t.Errorf("BenchmarkHash: N %d procs %d, want 20 and 2", res.N, res.Procs)
	}
}

func TestParseEdges(t *testing.T) {
	out := strings.Join([]string{
		"goos: linux",
		"cpu: Some CPU @ 2.00GHz",
		// The name is printed before the run; something wrote to stdout
		// before the figures came.
		"BenchmarkSplit/a-4   \tstray output from the benchmark",
		// A failure's reason is its last log line, wrapped lines and all.
		"--- FAIL: BenchmarkTabCountsBroad/counts-broad-term-x/handler",
		"    list_bench_test.go:201: GET /links?q=x&tab_counts=1: status 503",
		"        <html>the body, on lines of its own",
		"--- SKIP: BenchmarkListPageCold",
		"    list_bench_test.go:250: cannot drop the page cache (open /proc/sys/vm/drop_caches: permission denied): cold figures need root",
		"more stray output",
		"      10\t   123 ns/op\t  4.5 p99-ms",
		// GOMAXPROCS 1: no suffix, and a name that ends in a number word.
		"BenchmarkWebhookIngest/8-senders \t 100\t 2000 ns/op\t 500.0 deliveries/s",
		"--- FAIL: BenchmarkSearch/prefix/handler",
		"    search_bench_test.go:10: status 500",
		"    --- SKIP: BenchmarkLogin/parallel",
		"--- BENCH: BenchmarkBenchDB-2",
		"    list_bench_test.go:35: seeding 2000 links into /tmp/x.db (once)",
		"BenchmarkOdd-2 \t 3\t 10 ns/op\t oops",         // odd number of fields: not a result
		"BenchmarkNoNs-2 \t 3\t 10 things/op",           // no ns/op: not a result
		"Benchmarks are figures, never pass/fail.",      // prose
		"BenchmarkAfter-2 \t 7\t 1.5e+06 ns/op\t 2 x/s", // exponent
		"FAIL",
	}, "\n")
	var r Run
	if err := r.Parse(strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	if r.CPU != "Some CPU @ 2.00GHz" {
		t.Errorf("cpu %q", r.CPU)
	}
	want := []string{"BenchmarkSplit/a", "BenchmarkWebhookIngest/8-senders", "BenchmarkAfter"}
	if got := r.Names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("names: got %q, want %q", got, want)
	}
	if v, _ := r.Metric("BenchmarkSplit/a", "p99-ms"); v != 4.5 {
		t.Errorf("split line: p99 %v", v)
	}
	if res, _ := r.Get("BenchmarkSplit/a"); res.Procs != 4 || res.N != 10 {
		t.Errorf("split line: %+v", res)
	}
	if res, _ := r.Get("BenchmarkWebhookIngest/8-senders"); res.Procs != 1 || res.Metrics["deliveries/s"] != 500 {
		t.Errorf("8-senders: %+v", res)
	}
	if v, _ := r.Metric("BenchmarkAfter", "ns/op"); v != 1.5e6 {
		t.Errorf("exponent: %v", v)
	}
	for name, want := range map[string]string{
		"BenchmarkSearch/prefix/handler":                      "failed: status 500",
		"BenchmarkSearch/prefix/baseline":                     "missing",
		"BenchmarkLogin/parallel/handler":                     "skipped",
		"BenchmarkListPage/deep/handler":                      "missing",
		"BenchmarkSearch/prefix/handler/x":                    "failed: status 500",
		"BenchmarkTabCountsBroad/counts-broad-term-x/handler": "failed: GET /links?q=x&tab_counts=1: status 503",
		"BenchmarkListPageCold":                               "skipped: cannot drop the page cache (open /proc/sys/vm/drop_caches: permission denied): cold figure…",
	} {
		if got := r.Status(name); got != want {
			t.Errorf("status of %s: got %s, want %s", name, got, want)
		}
	}
}

func TestTableSample(t *testing.T) {
	r := sampleRun(t)
	rows := Table(r, groupsOf(defaultGroups))
	byFigure := map[string]Row{}
	for _, row := range rows {
		if row.Missing {
			t.Errorf("missing: %+v", row)
		}
		byFigure[row.Figure] = row
	}
	for _, want := range []Row{
		{Figure: "webhook ingest, serial", Value: "1,224/s", Baseline: "raw verify + insert, serial", BaseValue: "1,146/s", Ratio: "1.07×", Target: "≥ 0.5× baseline (#5)", Met: "yes"},
		{Figure: "webhook ingest, 8 senders", Value: "793/s", Baseline: "raw verify + insert, serial", BaseValue: "1,146/s", Ratio: "0.692×", Target: "≥ 3× baseline (#5)", Met: "no"},
		{Figure: "search exact-email p99", Value: "18.2 ms", Baseline: "bare SQL + templ render p99", BaseValue: "0.155 ms", Ratio: "117×", Target: "—", Met: "—"},
		{Figure: "search substring p99", Value: "10.00 ms", Baseline: "bare SQL + templ render p99", BaseValue: "4.83 ms", Ratio: "2.07×", Target: "p99 < 40 ms (#6)", Met: "yes"},
		{Figure: "link list deep-page p50", Value: "1.02 ms", Baseline: "bare Echo+templ, same rows p50", BaseValue: "0.133 ms", Ratio: "7.68×", Target: "—", Met: "—"},
		{Figure: "mint: paylinks' own overhead p99", Value: "3.61 ms", Baseline: "whole request incl. StableMint p99", BaseValue: "4.90 ms", Ratio: "0.737×", Target: "p99 < 5 ms (#4)", Met: "yes"},
		{Figure: "API create: own overhead outside StableMint p99", Value: "15.2 ms", Baseline: "the form's own overhead, same run p99", BaseValue: "12.2 ms", Ratio: "1.24×", Target: "p99 < 5 ms (#20)", Met: "no"},
		{Figure: "the disk: two one-row commits (an fsync each), same run p99", Value: "4.53 ms", Baseline: "—", BaseValue: "—", Ratio: "—", Target: "—", Met: "—"},
		{Figure: "API GET by StableMint reference p99", Value: "1.33 ms", Baseline: "store lookup + JSON p99", BaseValue: "0.829 ms", Ratio: "1.60×", Target: "p99 < 2 ms (#20)", Met: "yes"},
		{Figure: "argon2id hash (m=19 MiB, t=2, p=1)", Value: "20.5 ms", Baseline: "—", BaseValue: "—", Ratio: "—", Target: "< 1 s (docs/security.md A1)", Met: "yes"},
		{Figure: "logins per second, serial", Value: "42.9/s", Baseline: "bare argon2id verifies/s", BaseValue: "43.8/s", Ratio: "0.979×", Target: "—", Met: "—"},
		{Figure: "CSV export, rows per second", Value: "88,924/s", Baseline: "—", BaseValue: "—", Ratio: "—", Target: "≥ 66,667/s (1M in 15 s, #6)", Met: "yes"},
		{Figure: "CSV export, all rows", Value: "0.225 s", Baseline: "—", BaseValue: "—", Ratio: "—", Target: "—", Met: "—"},
		{Figure: "dashboard figures p99", Value: "13.8 ms", Baseline: "old queries over the links p99", BaseValue: "410 ms", Ratio: "0.034×", Target: "p99 < 100 ms (#19)", Met: "yes"},
		{Figure: "CSV export, peak heap growth", Value: "7.51 MiB", Baseline: "—", BaseValue: "—", Ratio: "—", Target: "< 64 MiB (#6)", Met: "yes"},
		{Figure: "tabs: tab-page p99", Value: "17.9 ms", Baseline: "the list page (All), same run p99", BaseValue: "10.9 ms", Ratio: "1.65×", Target: "p99 < 5 ms (#18)", Met: "no"},
		{Figure: "tabs: counts-no-term p50", Value: "8.92 ms", Baseline: "the list page (All), same run p50", BaseValue: "4.02 ms", Ratio: "2.22×", Target: "—", Met: "—"},
		{Figure: "tabs: counts-broad-term-torvalds p99", Value: "154 ms", Baseline: "the list page of the same search p99", BaseValue: "18.6 ms", Ratio: "8.27×", Target: "—", Met: "—"},
		{Figure: "dashboard (GET /), first request, page cache dropped (cold), median of 2", Value: "24.6 ms", Baseline: "the same request warm p50", BaseValue: "5.38 ms", Ratio: "4.57×", Target: "—", Met: "—"},
		{Figure: "link list (GET /links), first request, page cache dropped (cold), worst of 2", Value: "130 ms", Baseline: "the same request warm p50", BaseValue: "7.35 ms", Ratio: "17.7×", Target: "—", Met: "—"},
		{Figure: "outbound delivery of 1,000 events, every attempt recorded", Value: "179/s", Baseline: "the same 1,000 POSTs sent directly, 4 at once", BaseValue: "1,679/s", Ratio: "0.107×", Target: "≥ 500/s (#20)", Met: "no"},
		{Figure: "outbound delivery, CPU per delivery", Value: "2,195 µs", Baseline: "the same POSTs sent directly", BaseValue: "143 µs", Ratio: "15.3×", Target: "—", Met: "—"},
		{Figure: "import: parse + check 10,000 CSV rows", Value: "1.05 s", Baseline: "encoding/csv alone", BaseValue: "0.008 s", Ratio: "124×", Target: "< 2 s (#21)", Met: "yes"},
		{Figure: "import: parse + check 10,000 XLSX rows", Value: "4.05 s", Baseline: "excelize alone", BaseValue: "2.23 s", Ratio: "1.82×", Target: "< 2 s (#21)", Met: "no"},
		{Figure: "import: parse + check 10,000 XLSX rows, peak heap growth", Value: "34.4 MiB", Baseline: "excelize alone", BaseValue: "25.6 MiB", Ratio: "1.35×", Target: "< 64 MiB (#21)", Met: "yes"},
		{Figure: "import: minting against the sandbox, 4 in flight", Value: "95.6/s", Baseline: "the same number of direct client calls, 4 in flight", BaseValue: "214/s", Ratio: "0.447×", Target: "≥ 30/s (#21)", Met: "yes"},
	} {
		if got := byFigure[want.Figure]; got != want {
			t.Errorf("row %q:\n got %+v\nwant %+v", want.Figure, got, want)
		}
	}
	// Every search kind, list page and login mode in the sample has a row.
	for _, f := range []string{"search exact-website-ref p99", "search exact-stablemint-ref p99", "search prefix p99",
		"search keyset-page p99", "link list first-page p99", "logins per second, parallel"} {
		if _, ok := byFigure[f]; !ok {
			t.Errorf("no row %q", f)
		}
	}
	var buf bytes.Buffer
	Render(&buf, rows)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(rows)+2 {
		t.Fatalf("rendered %d lines for %d rows", len(lines), len(rows))
	}
	if !strings.HasPrefix(lines[0], "| figure ") || !strings.Contains(lines[0], "| met? |") {
		t.Errorf("header line: %q", lines[0])
	}
}

func TestTableMissing(t *testing.T) {
	out := strings.Join([]string{
		"BenchmarkSearch/new-kind/handler-2 \t 10\t 100 ns/op\t 1.0 p99-ms",
		"BenchmarkSearch/new-kind/baseline-2 \t 10\t 100 ns/op\t 0.5 p99-ms",
		"BenchmarkSearch/prefix/baseline-2 \t 10\t 100 ns/op\t 0.5 p99-ms",
		"--- FAIL: BenchmarkSearch/prefix/handler",
		"BenchmarkWebhookIngest/serial-2 \t 10\t 100 ns/op\t 900 deliveries/s",
	}, "\n")
	var r Run
	if err := r.Parse(strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	rows := Table(&r, []string{"webhook", "search"})
	got := map[string]Row{}
	for _, row := range rows {
		got[row.Figure] = row
	}
	check := func(figure, value, base, met string, missing bool) {
		t.Helper()
		row, ok := got[figure]
		if !ok {
			t.Fatalf("no row %q in %+v", figure, rows)
		}
		if row.Value != value || row.BaseValue != base || row.Met != met || row.Missing != missing {
			t.Errorf("%s: got value %q base %q met %q missing %v; want %q %q %q %v",
				figure, row.Value, row.BaseValue, row.Met, row.Missing, value, base, met, missing)
		}
	}
	check("webhook ingest, serial", "900/s", "missing", "MISSING", true)
	check("webhook ingest, 8 senders", "missing", "missing", "MISSING", true)
	check("search new-kind p99", "1.00 ms", "0.500 ms", "—", false) // listed, no target
	check("search prefix p99", "failed", "0.500 ms", "MISSING", true)
	check("search exact-website… p99", "missing", "missing", "MISSING", true)
	check("search exact-stablemint… p99", "missing", "missing", "MISSING", true)
	check("search substring… p99", "missing", "missing", "MISSING", true)
	check("search keyset… p99", "missing", "missing", "MISSING", true)
	if len(rows) != 8 { // the optional kinds (exact-email, prefix-total) get no missing row
		t.Errorf("got %d rows, want 8", len(rows))
	}
}

// A figure the run could not take says why: the cold rows without root,
// the broad tab counts answered 503 after the request's deadline, a
// package whose binary did not build (its groups absent).
func TestTableMissingSaysWhy(t *testing.T) {
	out := strings.Join([]string{
		"--- SKIP: BenchmarkDashboardCold",
		"    list_bench_test.go:250: cannot drop the page cache (permission denied): cold figures need root",
		"--- SKIP: BenchmarkListPageCold",
		"    list_bench_test.go:250: cannot drop the page cache (permission denied): cold figures need root",
		"--- FAIL: BenchmarkTabCountsBroad/counts-broad-term-torvalds/handler",
		"    list_bench_test.go:201: GET /links?q=torvalds&tab_counts=1: status 503",
		"BenchmarkTabCountsBroad/counts-broad-term-torvalds/baseline-2 \t 20\t 100 ns/op\t 900 p50-ms\t 990 p99-ms",
		"BenchmarkParseCheck10000CSV-2 \t 3\t 1.2e+09 ns/op\t 38.7 peak-heap-growth-MiB",
	}, "\n")
	var r Run
	if err := r.Parse(strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, row := range Table(&r, []string{"tabs-broad", "cold", "import", "outbound"}) {
		got[row.Figure] = row
	}
	need := "skipped: cannot drop the page cache (permission denied): cold figures need root"
	for figure, want := range map[string]Row{
		"dashboard (GET /), first request, page cache dropped (cold), median":     {Value: need, BaseValue: need},
		"link list (GET /links), first request, page cache dropped (cold), worst": {Value: need, BaseValue: need},
		"tabs: counts-broad-term-torvalds p99":                                    {Value: "failed: GET /links?q=torvalds&tab_counts=1: status 503", BaseValue: "990 ms"},
		"import: parse + check 10,000 CSV rows":                                   {Value: "1.20 s", BaseValue: "missing"},
		"import: parse + check 10,000 CSV rows, peak heap growth":                 {Value: "38.7 MiB", BaseValue: "missing"},
		"outbound delivery of 1,000 events, every attempt recorded":               {Value: "missing", BaseValue: "missing"},
	} {
		row, ok := got[figure]
		if !ok {
			t.Errorf("no row %q", figure)
			continue
		}
		if row.Value != want.Value || row.BaseValue != want.BaseValue || !row.Missing || row.Met != "MISSING" {
			t.Errorf("%s: got value %q base %q met %q missing %v; want %q %q MISSING", figure, row.Value, row.BaseValue, row.Met, row.Missing, want.Value, want.BaseValue)
		}
	}
}

func TestPackages(t *testing.T) {
	if got, want := strings.Join(packages(defaultGroups), " "), "./handlers ./outbound ./importer ./links"; got != want {
		t.Errorf("packages: got %q, want %q (each once, in the groups' order)", got, want)
	}
	for pkg, want := range map[string]string{"./handlers": "handlers.test", "./cmd/paylinks": "cmd-paylinks.test", ".": "root.test"} {
		if got := binaryName(pkg); got != want {
			t.Errorf("binaryName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestSelectGroups(t *testing.T) {
	gs, err := selectGroups(defaultGroups, "export, search", "search=10x")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].name != "search" || gs[0].benchtime != "10x" || gs[1].name != "export" || gs[1].benchtime != "1x" {
		t.Errorf("got %+v", gs)
	}
	gs, err = selectGroups(defaultGroups, "batch,outbound,import", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 3 || gs[0].pkg != "./outbound" || gs[1].pkg != "./importer" || gs[2].pkg != "./links" {
		t.Errorf("got %+v; want outbound, import, batch with their packages", gs)
	}
	if _, err := selectGroups(defaultGroups, "nope", ""); err == nil {
		t.Error("unknown group accepted")
	}
	if _, err := selectGroups(defaultGroups, "", "search"); err == nil {
		t.Error("benchtime without = accepted")
	}
}

func groupsOf(gs []group) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.name)
	}
	return out
}
