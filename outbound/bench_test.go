//go:build unix

package outbound_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
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
	// Every attempt of every round is in the store's log.
	rounds := delivered / n
	for _, m := range ms {
		log, err := f.st.OutboundAttempts(ctx, m.ID)
		if err != nil || len(log) != rounds {
			b.Fatalf("message %d: %d attempts recorded (%v), want %d", m.ID, len(log), err, rounds)
		}
	}
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "deliveries/s")
	// The process's CPU per delivery (the receiver's included): on a
	// machine shared with other work, the figure that does not depend on
	// what else runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(delivered), "cpu-µs/delivery")
}

// BenchmarkBaselineDirectPosts1000 is BenchmarkDeliver1000's floor: the
// very requests the worker sent (bodies and headers as the receiver got
// them, captured from one untimed delivery) POSTed straight to the same
// loopback receiver, 4 at once (the worker's limit for one endpoint,
// outbound.DefaultPerEndpoint), over kept connections, with nothing read,
// built, signed or recorded. Run with -benchtime 3x.
func BenchmarkBaselineDirectPosts1000(b *testing.B) {
	f := newFixture(b, time.Now())
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f.endpoint(b, srv.URL, "link.opened")
	const n = 1000
	for range n {
		f.link(b)
	}
	ctx := context.Background()
	w := outbound.New(f.st, outbound.Options{Guard: &outbound.Guard{Sandbox: true}})
	if got, err := w.Drain(ctx); err != nil || got != n {
		b.Fatalf("capturing the requests: %d attempts, %v", got, err)
	}
	sent := rc.all()
	if len(sent) != n {
		b.Fatalf("the receiver got %d requests, want %d", len(sent), n)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true,
		MaxIdleConnsPerHost: outbound.DefaultPerEndpoint}}
	defer client.CloseIdleConnections()
	post := func(r received) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader(r.Body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "paylinks-webhooks/1")
		req.Header.Set("webhook-id", r.ID)
		req.Header.Set("webhook-timestamp", r.Timestamp)
		req.Header.Set("webhook-signature", r.Signature)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	posted := 0
	var elapsed, cpu time.Duration
	for b.Loop() {
		start, cpu0 := time.Now(), cpuTime()
		var wg sync.WaitGroup
		var failed atomic.Int64
		sem := make(chan struct{}, outbound.DefaultPerEndpoint)
		for _, r := range sent {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := post(r); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		cpu += cpuTime() - cpu0
		if k := failed.Load(); k > 0 {
			b.Fatalf("%d of %d POSTs failed", k, n)
		}
		posted += n
	}
	b.ReportMetric(float64(posted)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(posted), "cpu-µs/delivery")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
