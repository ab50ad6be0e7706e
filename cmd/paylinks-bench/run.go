package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// group is one run of a package's test binary.
type group struct {
	name      string
	pkg       string // the package whose test binary runs, "./handlers"
	bench     string // -test.bench
	benchtime string // -test.benchtime
	what      string
}

// groups run in this order. benchdb goes first: it seeds the bench
// database when it is not cached yet, so the time shows on its own line.
// Iteration counts are fixed (Nx) so the run's length is predictable; they
// were chosen so the whole of make bench stays under 10 minutes on the
// 2-core machine with 1,000,000 links, seeding included. The groups of
// outbound, importer and links use no bench database (each benchmark
// makes its own small one).
var defaultGroups = []group{
	{"benchdb", "./handlers", "^BenchmarkBenchDB$", "1x", "bench database (seeded if absent)"},
	{"webhook", "./handlers", "^BenchmarkWebhookIngest$", "3000x", "webhook ingest vs raw verify+insert"},
	{"search", "./handlers", "^BenchmarkSearch$", "300x", "search vs bare SQL + render"},
	{"list", "./handlers", "^BenchmarkListPage$", "400x", "link list vs bare Echo+templ"},
	{"tabs", "./handlers", "^BenchmarkTabCounts$", "100x", "a tab's page and the deferred tab counts vs the list page"},
	{"tabs-broad", "./handlers", "^BenchmarkTabCountsBroad$", "20x", "the deferred tab counts of a broad search vs its list page"},
	{"live", "./handlers", "^BenchmarkListLive$", "2000x", "list live update vs bare id lookup+templ"},
	{"cold", "./handlers", "^(BenchmarkDashboardCold|BenchmarkListPageCold)$", "4x", "first dashboard and list request after dropping the page cache (cold) vs the same warm"},
	{"mint", "./handlers", "^BenchmarkCreateLink$", "300x", "mint overhead"},
	{"api", "./handlers", "^(BenchmarkAPICreateLink|BenchmarkAPIGetByReference)$", "1000x", "API create overhead beside the form's; GET by reference"},
	{"passwords", "./handlers", "^(BenchmarkHash|BenchmarkLogin)$", "60x", "argon2id hash, logins/s"},
	{"export", "./handlers", "^BenchmarkExportCSV$", "1x", "CSV export of every link"},
	{"dashboard", "./handlers", "^BenchmarkDashboardFigures$", "300x", "dashboard figures from the kept tables"},
	{"dashboard-old", "./handlers", "^BenchmarkDashboardFiguresFromLinks$", "3x", "dashboard figures by the old queries over the links (baseline)"},
	{"outbound", "./outbound", "^(BenchmarkDeliver1000|BenchmarkBaselineDirectPosts1000)$", "3x", "outbound delivery of 1,000 events vs the same POSTs sent directly"},
	{"import", "./importer", "^(BenchmarkParseCheck10000CSV|BenchmarkBaselineEncodingCSV10000|BenchmarkParseCheck10000XLSX|BenchmarkBaselineExcelize10000)$", "3x", "import: parse and check 10,000 rows vs encoding/csv and excelize alone"},
	{"batch", "./links", "^(BenchmarkBatchMint200|BenchmarkBaselineDirectCalls200)$", "3x", "import minting, 4 in flight, vs direct sandbox calls"},
}

const budget = 10 * time.Minute

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	goCmd := fs.String("go", "go", "the go command")
	only := fs.String("groups", "", "comma-separated groups to run (default all: "+groupNames(defaultGroups)+")")
	times := fs.String("benchtime", "", "per-group -benchtime overrides, e.g. search=100x,webhook=2s")
	out := fs.String("out", "bench/latest.txt", "where the table goes")
	rawPath := fs.String("raw", "bench/raw.txt", "where the raw benchmark output goes")
	from := fs.String("from", "", "render the table from this raw output and run nothing")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	groups, err := selectGroups(defaultGroups, *only, *times)
	if err != nil {
		return err
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.name
	}

	var r Run
	var info header
	info.start = time.Now()
	if *from != "" {
		f, err := os.Open(*from)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := r.Parse(f); err != nil {
			return err
		}
		info.note = "re-rendered from " + *from
	} else {
		if err := runGroups(ctx, *goCmd, groups, *rawPath, &r, &info, stderr); err != nil {
			return err
		}
	}
	info.fill(ctx, *goCmd, getenv, &r)
	rows := Table(&r, names)

	var buf bytes.Buffer
	info.write(&buf, names)
	fmt.Fprintln(&buf)
	Render(&buf, rows)
	missing := 0
	for _, row := range rows {
		if row.Missing {
			missing++
		}
	}
	var problems []string
	if missing > 0 {
		problems = append(problems, fmt.Sprintf("%d figure(s) missing", missing))
	}
	if len(info.failed) > 0 {
		problems = append(problems, "failed groups: "+strings.Join(info.failed, ", "))
	}
	if len(problems) > 0 {
		fmt.Fprintf(&buf, "\nNOT COMPLETE: %s (raw output: %s)\n", strings.Join(problems, "; "), *rawPath)
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "paylinks-bench: table written to", *out)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func groupNames(gs []group) string {
	n := make([]string, len(gs))
	for i, g := range gs {
		n[i] = g.name
	}
	return strings.Join(n, ",")
}

// selectGroups keeps the named groups (all when only is empty) in their
// usual order and applies name=benchtime overrides.
func selectGroups(all []group, only, times string) ([]group, error) {
	known := map[string]bool{}
	for _, g := range all {
		known[g.name] = true
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !known[n] {
			return nil, fmt.Errorf("unknown group %q (have %s)", n, groupNames(all))
		}
		want[n] = true
	}
	override := map[string]string{}
	for _, kv := range strings.Split(times, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !known[k] || v == "" {
			return nil, fmt.Errorf("bad -benchtime entry %q: want group=benchtime", kv)
		}
		override[k] = v
	}
	var out []group
	for _, g := range all {
		if len(want) > 0 && !want[g.name] {
			continue
		}
		if v, ok := override[g.name]; ok {
			g.benchtime = v
		}
		out = append(out, g)
	}
	return out, nil
}

// lockedWriter serialises writes from the child's stdout and stderr copiers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runGroups builds the test binary and runs each group, streaming its
// output to stderr and the raw file and parsing its stdout into r.
func runGroups(ctx context.Context, goCmd string, groups []group, rawPath string, r *Run, info *header, stderr io.Writer) error {
	root, err := moduleRoot(ctx, goCmd)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(rawPath), 0o755); err != nil {
		return err
	}
	raw, err := os.Create(rawPath)
	if err != nil {
		return err
	}
	defer raw.Close()
	var mu sync.Mutex
	tee := lockedWriter{&mu, io.MultiWriter(stderr, raw)}
	say := func(format string, a ...any) {
		fmt.Fprintf(tee, "paylinks-bench: "+format+"\n", a...)
	}

	tmp, err := os.MkdirTemp("", "paylinks-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// One test binary per package, each built once before any group runs
	// (no build competes with a benchmark for the CPUs). A package that
	// does not build fails its own groups, not the others.
	bins := map[string]string{}
	broken := map[string]error{}
	start := time.Now()
	for _, pkg := range packages(groups) {
		bin := filepath.Join(tmp, binaryName(pkg))
		say("building the %s test binary: %s test -c %s", pkg, goCmd, pkg)
		build := exec.CommandContext(ctx, goCmd, "test", "-c", "-o", bin, pkg)
		build.Dir, build.Stdout, build.Stderr = root, tee, tee
		if err := build.Run(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			say("build of %s FAILED: %v", pkg, err)
			broken[pkg] = err
			continue
		}
		bins[pkg] = bin
	}
	info.build = time.Since(start)

	for i, g := range groups {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		bin, ok := bins[g.pkg]
		if !ok {
			say("[%d/%d] %s FAILED: %s did not build (%v)", i+1, len(groups), g.name, g.pkg, broken[g.pkg])
			info.failed = append(info.failed, g.name)
			continue
		}
		args := []string{"-test.run=^$", "-test.bench=" + g.bench, "-test.benchtime=" + g.benchtime,
			"-test.benchmem", "-test.timeout=20m"}
		say("[%d/%d] %s — %s: go test -run '^$' -bench '%s' -benchtime %s -benchmem %s",
			i+1, len(groups), g.name, g.what, g.bench, g.benchtime, g.pkg)
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = filepath.Join(root, filepath.FromSlash(g.pkg)) // as go test runs it
		cmd.Stdout = io.MultiWriter(tee, &out)
		cmd.Stderr = tee
		gs := time.Now()
		runErr := cmd.Run()
		took := time.Since(gs)
		info.took = append(info.took, g.name+" "+short(took))
		if g.name == "benchdb" {
			info.benchdb = took
		}
		if err := r.Parse(&out); err != nil {
			return err
		}
		if runErr != nil {
			say("%s FAILED after %s: %v", g.name, short(took), runErr)
			info.failed = append(info.failed, g.name)
			continue
		}
		say("%s done in %s (total %s)", g.name, short(took), short(time.Since(info.start)))
	}
	info.wall = time.Since(info.start)
	say("all groups done in %s", short(info.wall))
	return nil
}

// packages lists the groups' packages, each once, in the groups' order.
func packages(groups []group) []string {
	var out []string
	for _, g := range groups {
		if !slices.Contains(out, g.pkg) {
			out = append(out, g.pkg)
		}
	}
	return out
}

// binaryName is a package's test binary's file name: ./handlers is
// handlers.test, ./cmd/x cmd-x.test.
func binaryName(pkg string) string {
	name := strings.Trim(strings.TrimPrefix(filepath.ToSlash(pkg), "./"), "/")
	if name == "" || name == "." {
		name = "root"
	}
	return strings.ReplaceAll(name, "/", "-") + ".test"
}

func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the paylinks checkout")
	}
	return filepath.Dir(mod), nil
}

// header is what the table's preamble says about the run.
type header struct {
	start                time.Time
	build, benchdb, wall time.Duration
	took, failed         []string
	note                 string
	goVersion, commit    string
	cpus, procs          int
	cpu                  string
	dbPath               string
	links, dbMiB, seedS  float64
	readyS               float64
	seeded, haveDB       bool
}

func (h *header) fill(ctx context.Context, goCmd string, getenv func(string) string, r *Run) {
	h.goVersion = runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if out, err := exec.CommandContext(ctx, goCmd, "env", "GOVERSION", "GOOS", "GOARCH").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) == 3 {
			h.goVersion = f[0] + " " + f[1] + "/" + f[2]
		}
	}
	h.commit = "unknown"
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		h.commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			h.commit += " + uncommitted changes"
		}
	}
	h.cpus, h.procs, h.cpu = runtime.NumCPU(), runtime.GOMAXPROCS(0), r.CPU
	for _, res := range r.Results {
		h.procs = res.Procs // what the benchmarks ran with
		break
	}
	h.dbPath = getenv("PAYLINKS_BENCH_DB")
	n := 1_000_000
	if v, err := strconv.Atoi(getenv("PAYLINKS_BENCH_LINKS")); err == nil && v > 0 {
		n = v
	}
	if h.dbPath == "" {
		tmp := getenv("TMPDIR")
		if tmp == "" {
			tmp = "/tmp"
		}
		h.dbPath = filepath.Join(tmp, fmt.Sprintf("paylinks-bench-%d.db", n))
	}
	h.links, h.haveDB = r.Metric("BenchmarkBenchDB", "links")
	h.dbMiB, _ = r.Metric("BenchmarkBenchDB", "db-MiB")
	h.seedS, h.seeded = r.Metric("BenchmarkBenchDB", "seed-s")
	h.readyS, _ = r.Metric("BenchmarkBenchDB", "ready-s")
	if !h.haveDB {
		h.links = float64(n)
	}
}

func (h *header) write(w io.Writer, groups []string) {
	fmt.Fprintf(w, "paylinks benchmarks (make bench), %s\n\n", h.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- go:       %s\n", h.goVersion)
	cpu := h.cpu
	if cpu == "" {
		cpu = "cpu unknown"
	}
	fmt.Fprintf(w, "- machine:  %s, %d CPUs, GOMAXPROCS %d\n", cpu, h.cpus, h.procs)
	fmt.Fprintf(w, "- commit:   %s\n", h.commit)
	db := fmt.Sprintf("%s links", thousands(int64(h.links)))
	if h.haveDB {
		db += fmt.Sprintf(", %.0f MiB on disk", h.dbMiB)
	}
	if h.note == "" {
		db += " (" + h.dbPath + ")"
	}
	switch {
	case h.seeded:
		db += fmt.Sprintf(", seeded by this run in %s", short(time.Duration(h.seedS*float64(time.Second))))
	case h.haveDB:
		db += fmt.Sprintf(", file from an earlier run (ready in %s)", short(time.Duration(h.readyS*float64(time.Second))))
	}
	fmt.Fprintf(w, "- bench DB: %s\n", db)
	if h.note != "" {
		fmt.Fprintf(w, "- run:      %s\n", h.note)
	} else {
		over := ""
		if h.wall > budget {
			over = fmt.Sprintf(" — OVER the %s budget", budget)
		}
		fmt.Fprintf(w, "- run:      %s wall%s (build %s; %s)\n", short(h.wall), over, short(h.build), strings.Join(h.took, ", "))
	}
	if len(groups) < len(defaultGroups) {
		fmt.Fprintf(w, "- groups:   %s only\n", strings.Join(groups, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratio = value ÷ baseline value, both from this run: for times, above 1× is what the real path costs on top")
	fmt.Fprintln(w, "of its baseline; for rates, below 1× is. Latency figures are in-process (httptest) except mint, API create")
	fmt.Fprintln(w, "and logins (loopback); mint's ratio is paylinks' share of the whole request; the dashboard's are its figure")
	fmt.Fprintln(w, "reads through the store. Outbound delivery and import minting run over loopback on a small database of their")
	fmt.Fprintln(w, "own; the cold rows open the store afresh and drop the page cache before each iteration. Targets are from")
	fmt.Fprintln(w, "issues #4, #5, #6, #18, #19, #20, #21 and docs/security.md A1 (the 15 s and 3 min targets are for 1,000,000")
	fmt.Fprintln(w, "links); \"no\" is a figure, not a failure.")
}

func short(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
