package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one benchmark result line: the name without its -GOMAXPROCS
// suffix, the iteration count, and every value/unit pair on the line
// (ns/op, B/op, allocs/op and the custom metrics of b.ReportMetric).
type Result struct {
	Name    string
	Procs   int
	N       int64
	Metrics map[string]float64
}

// Run is what one or more `go test -bench` outputs said.
type Run struct {
	CPU     string
	Results []Result
	// Failed and Skipped hold the names from "--- FAIL:" and "--- SKIP:"
	// lines (benchmarks and sub-benchmarks), without the procs suffix.
	Failed  map[string]bool
	Skipped map[string]bool
	// Why is what a failed or skipped benchmark said last (the message of
	// b.Fatal or b.Skip, its first line), by name.
	Why map[string]string
}

// Get returns the last result named name.
func (r *Run) Get(name string) (Result, bool) {
	for i := len(r.Results) - 1; i >= 0; i-- {
		if r.Results[i].Name == name {
			return r.Results[i], true
		}
	}
	return Result{}, false
}

// Metric returns one metric of the last result named name.
func (r *Run) Metric(name, unit string) (float64, bool) {
	res, ok := r.Get(name)
	if !ok {
		return 0, false
	}
	v, ok := res.Metrics[unit]
	return v, ok
}

// Names lists distinct result names in the order they first appeared.
func (r *Run) Names() []string {
	seen := map[string]bool{}
	var out []string
	for _, res := range r.Results {
		if !seen[res.Name] {
			seen[res.Name] = true
			out = append(out, res.Name)
		}
	}
	return out
}

// Status says why a benchmark has no result: "failed" or "skipped" (for it
// or a parent, followed by ": " and what it said when it said something),
// or "missing".
func (r *Run) Status(name string) string {
	for n := name; n != ""; {
		status := ""
		switch {
		case r.Failed[n]:
			status = "failed"
		case r.Skipped[n]:
			status = "skipped"
		}
		if status != "" {
			if why := r.Why[n]; why != "" {
				return status + ": " + why
			}
			return status
		}
		i := strings.LastIndexByte(n, '/')
		if i < 0 {
			break
		}
		n = n[:i]
	}
	return "missing"
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// logLine is a line the testing package writes for b.Log or b.Skip:
// indented, "file.go:12: message".
var logLine = regexp.MustCompile(`^(\s+)\S+\.go:\d+: (.*)$`)

// maxWhy bounds a reason kept for the table.
const maxWhy = 90

// splitProcs removes the -GOMAXPROCS suffix the testing package appends
// (absent when GOMAXPROCS is 1).
func splitProcs(name string) (string, int) {
	if m := procsSuffix.FindStringSubmatch(name); m != nil {
		p, _ := strconv.Atoi(m[1])
		return name[:len(name)-len(m[0])], p
	}
	return name, 1
}

// Parse reads standard benchmark output (as go test -bench prints it) and
// adds what it finds to r. Lines it does not know are ignored. The testing
// package prints a benchmark's name before running it and the figures
// after, so anything the benchmark writes to stdout meanwhile splits the
// line: a name with nothing parsable after it is kept until the next line
// that starts with figures.
func (r *Run) Parse(in io.Reader) error {
	if r.Failed == nil {
		r.Failed = map[string]bool{}
	}
	if r.Skipped == nil {
		r.Skipped = map[string]bool{}
	}
	if r.Why == nil {
		r.Why = map[string]string{}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	pending := ""
	// The benchmark of the last "--- FAIL:" or "--- SKIP:" line and its
	// indent: the lines after it indented further are its log, the last
	// log line its reason (b.Fatal and b.Skip end a benchmark).
	ended, endIndent := "", 0
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if ended != "" {
			indent := len(line) - len(strings.TrimLeft(line, " \t"))
			if trimmed == "" || indent <= endIndent {
				ended = ""
			} else if m := logLine.FindStringSubmatch(line); m != nil {
				why := strings.TrimSpace(m[2])
				if len(why) > maxWhy {
					why = strings.ToValidUTF8(why[:maxWhy], "") + "…"
				}
				r.Why[ended] = why
			}
		}
		switch {
		case strings.HasPrefix(line, "cpu: "):
			r.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			continue
		case strings.HasPrefix(trimmed, "--- FAIL: "), strings.HasPrefix(trimmed, "--- SKIP: "):
			f := strings.Fields(trimmed)
			if len(f) >= 3 {
				name, _ := splitProcs(f[2])
				if f[1] == "FAIL:" {
					r.Failed[name] = true
				} else {
					r.Skipped[name] = true
				}
				ended, endIndent = name, len(line)-len(strings.TrimLeft(line, " \t"))
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(line, "Benchmark") {
			name, procs := splitProcs(f[0])
			if res, ok := parseFigures(f[1:]); ok {
				res.Name, res.Procs = name, procs
				r.Results = append(r.Results, res)
				pending = ""
			} else {
				pending = f[0]
			}
			continue
		}
		if pending != "" {
			if res, ok := parseFigures(f); ok {
				res.Name, res.Procs = splitProcs(pending)
				r.Results = append(r.Results, res)
				pending = ""
			}
		}
	}
	return sc.Err()
}

// parseFigures reads "N v1 unit1 v2 unit2 ...", which must include ns/op.
func parseFigures(f []string) (Result, bool) {
	if len(f) < 3 || len(f)%2 != 1 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n <= 0 {
		return Result{}, false
	}
	res := Result{N: n, Metrics: map[string]float64{}}
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Metrics[f[i+1]] = v
	}
	if _, ok := res.Metrics["ns/op"]; !ok {
		return Result{}, false
	}
	return res, true
}
