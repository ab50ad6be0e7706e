package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// timedClient measures the time spent inside StableMint's call.
type timedClient struct {
	links.HostedSessions
	mu    sync.Mutex
	spent time.Duration
}

func (c *timedClient) CreateHostedSession(ctx context.Context, r stablemint.Request) (stablemint.Session, error) {
	start := time.Now()
	s, err := c.HostedSessions.CreateHostedSession(ctx, r)
	c.mu.Lock()
	c.spent += time.Since(start)
	c.mu.Unlock()
	return s, err
}

func (c *timedClient) take() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.spent
	c.spent = 0
	return d
}

// BenchmarkCreateLink posts the new-link form through the real router on a
// real SQLite file (synchronous=FULL) against the in-process sandbox over
// loopback, and reports the whole request and paylinks' own overhead (the
// request minus the time inside the StableMint call) as p50/p99.
func BenchmarkCreateLink(b *testing.B) {
	var tc *timedClient
	e := newEnv(b, func(_ *app.Config, p *app.Parts) {
		tc = &timedClient{HostedSessions: p.StableMint}
		p.StableMint = tc
	})
	e.addUser("fin@example.com", paylink.RoleFinance)
	br := e.browser()
	br.login("fin@example.com")
	base := validLink()
	var total, own []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		form := br.fillLinkForm(base)
		form.Set("websiteReference", "BENCH-"+itoa(i))
		i++
		tc.take()
		b.StartTimer()
		start := time.Now()
		p := br.post("/links", form)
		d := time.Since(start)
		b.StopTimer()
		if p.status() != http.StatusSeeOther {
			b.Fatalf("create: %d", p.status())
		}
		total = append(total, d)
		own = append(own, d-tc.take())
		b.StartTimer()
	}
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	report("request", total)
	report("own", own)
	_ = url.Values{}
}
