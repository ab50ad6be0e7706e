//go:build unix

package outbound_test

import (
	"context"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

// BenchmarkDeliver1000 delivers 1,000 queued link.opened messages (each
// with its link read, its body built and signed) to a receiver on
// loopback, through the worker's default concurrency, every attempt
// recorded in the store's group commits on a real SQLite file with
// synchronous=FULL. The messages are queued (and, between rounds, queued
// again with Resend) with the timer stopped. Run with -benchtime 3x.
func BenchmarkDeliver1000(b *testing.B) {
	f := newFixture(b, time.Now())
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep := f.endpoint(b, srv.URL, "link.opened")
	const n = 1000
	for range n {
		f.link(b)
	}
	ms := f.messages(b, db.OutboundFilter{EndpointID: ep.ID, Limit: n})
	if len(ms) != n {
		b.Fatalf("%d messages queued", len(ms))
	}
	w := outbound.New(f.st, outbound.Options{Guard: &outbound.Guard{Sandbox: true}})
	ctx := context.Background()
	delivered := 0
	var elapsed, cpu time.Duration
	for b.Loop() {
		start, cpu0 := time.Now(), cpuTime()
		got, err := w.Drain(ctx)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - cpu0
		if got != n {
			b.Fatalf("%d attempts, want %d", got, n)
		}
		delivered += got
		b.StopTimer()
		for _, m := range ms {
			if err := f.st.ResendOutbound(ctx, m.ID, db.AuditEntry{Action: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	log, err := f.st.OutboundAttempts(ctx, ms[0].ID)
	if err != nil || len(log) == 0 {
		b.Fatalf("the first message's attempts are not recorded: %v", err)
	}
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "deliveries/s")
	// The process's CPU per delivery (the receiver's included): on a
	// machine shared with other work, the figure that does not depend on
	// what else runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(delivered), "cpu-µs/delivery")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
