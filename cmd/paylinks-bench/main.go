// Command paylinks-bench runs paylinks' benchmarks (`make bench`) and
// prints one table: each figure beside the baseline measured in the same
// run, their ratio, and the target from the issues. The table, with a
// header saying where and on what it ran, is also written to
// bench/latest.txt, and the raw benchmark output to bench/raw.txt.
//
// Each group of benchmarks names its package (./handlers, ./outbound,
// ./importer, ./links). It builds each package's test binary once (go
// test -c), all before the first group runs, and runs the binary once per
// group, each group with its own -benchtime, so one slow figure cannot
// starve the others of time and a failing group (or a package that does
// not build) does not stop the rest. Figures that do not come out (a
// benchmark failed, panicked, was skipped or was not found) are shown as
// missing, with the reason a skipped benchmark gave, and the command exits
// 1. A missed target is a figure, not a failure.
//
//	go run ./cmd/paylinks-bench                  # everything
//	go run ./cmd/paylinks-bench -groups search,list
//	go run ./cmd/paylinks-bench -benchtime search=100x
//	go run ./cmd/paylinks-bench -from bench/raw.txt   # re-render, run nothing
//
// The bench database (PAYLINKS_BENCH_LINKS links, default 1,000,000, or
// PAYLINKS_BENCH_DB) is seeded by the first group the first time and
// cached in $TMPDIR. The cold group drops the kernel's page cache (sync;
// echo 3 > /proc/sys/vm/drop_caches) before each of its iterations, which
// needs root; without it those rows are missing and say why.
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
