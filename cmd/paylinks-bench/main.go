// Command paylinks-bench runs the benchmark suite of ./handlers (`make
// bench`) and prints one table: each figure beside the baseline measured
// in the same run, their ratio, and the target from the issues. The table,
// with a header saying where and on what it ran, is also written to
// bench/latest.txt, and the raw benchmark output to bench/raw.txt.
//
// It builds the handlers test binary once (go test -c) and runs it once per
// group of benchmarks, each with its own -benchtime, so one slow figure
// cannot starve the others of time and a failing group does not stop the
// rest. Figures that do not come out (a benchmark failed, panicked or was
// not found) are shown as missing and the command exits 1. A missed target
// is a figure, not a failure.
//
//	go run ./cmd/paylinks-bench                  # everything
//	go run ./cmd/paylinks-bench -groups search,list
//	go run ./cmd/paylinks-bench -benchtime search=100x
//	go run ./cmd/paylinks-bench -from bench/raw.txt   # re-render, run nothing
//
// The bench database (PAYLINKS_BENCH_LINKS links, default 1,000,000, or
// PAYLINKS_BENCH_DB) is seeded by the first group the first time and
// cached in $TMPDIR.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paylinks-bench:", err)
		os.Exit(1)
	}
}
