package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadSmoke runs the whole load test small: a freshly built paylinks
// serve child over a 2,000-link database, 3 users with little think time,
// 5 webhooks a second for 4 s. Every route must be exercised, and nothing
// may fail: no 4xx or 5xx, no transport error, no unexpected response, no
// event processed twice, a clean shutdown. (The server is built without
// -race even under go test -race: instrumented argon2id makes sign-in take
// seconds, and the handlers' own tests cover races.)
func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs paylinks serve")
	}
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.DB = filepath.Join(dir, "data", "p.db")
	cfg.Links, cfg.Users, cfg.WebhooksPerSec, cfg.Duration = 2000, 3, 5, 4*time.Second
	cfg.ThinkMin, cfg.ThinkMax = 0, 20*time.Millisecond
	// A work directory that does not exist yet is made.
	cfg.SetupTimeout, cfg.WorkDir, cfg.Seed = 2*time.Minute, filepath.Join(dir, "work", "run1"), 1
	cfg.CPUProfile = filepath.Join(dir, "cpu.pprof")
	// Two open lists, asking every second instead of app.js's 10 s so
	// that the short window sees their questions.
	cfg.LiveLists, cfg.LiveEvery = 2, time.Second

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := load(ctx, cfg, testWriter{t})
	if rep != nil {
		var out bytes.Buffer
		rep.print(&out)
		t.Log(out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.failures() {
		t.Error(f)
	}
	got := map[string]summary{}
	for _, s := range rep.rec.rows(rep.cfg.Duration) {
		got[strings.TrimSpace(s.Name)] = s
	}
	for _, name := range append(append([]string{}, routeOrder...), searchKinds...) {
		if got[name].N == 0 {
			t.Errorf("%s: no requests; want every route exercised", name)
		}
	}
	// The open lists' requests are in the total but not in the users'.
	if all, users := got["all requests"], got[usersTotal]; all.N != users.N+got[rLiveOpen].N+got[rLive].N {
		t.Errorf("all requests %d; want the users' and webhooks' %d plus the open lists' %d + %d", all.N, users.N, got[rLiveOpen].N, got[rLive].N)
	}
	if all := got["all requests"]; all.Non23 > 0 {
		t.Errorf("%d responses were neither 2xx nor 3xx (%s); want none", all.Non23, fmtStatuses(all.Statuses))
	}
	if events, _, _ := rep.rec.webhookCounts(); events == 0 {
		t.Error("no webhook event was acknowledged as new")
	}
	if rep.mem.RSSPeak == 0 && rep.mem.Err == "" {
		t.Error("no memory figures")
	}
	if fi, err := os.Stat(cfg.CPUProfile); err != nil || fi.Size() == 0 || rep.profileErr != nil {
		t.Errorf("no CPU profile: %v, %v", err, rep.profileErr)
	}
	var out bytes.Buffer
	rep.print(&out)
	for _, want := range []string{"cores on average", "of which anonymous", "WAL ", "peak (sampled every 1 s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q", want)
		}
	}
}

func TestCheckLoopbackAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.9:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", false}, // names can resolve anywhere
		{"0.0.0.0:8080", false},
		{"10.0.0.1:80", false},
		{"example.com:80", false},
		{"127.0.0.1", false},
	} {
		if err := checkLoopbackAddr(tc.addr); (err == nil) != tc.ok {
			t.Errorf("checkLoopbackAddr(%q) = %v; want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func TestValidateRefusesNonLoopbackTarget(t *testing.T) {
	cfg := defaultConfig()
	cfg.DB, cfg.Addr = "x.db", "192.0.2.1:8080"
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("validate with -addr %s = %v; want a loopback refusal", cfg.Addr, err)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%g = %d; want %d", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %d; want 0", got)
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
