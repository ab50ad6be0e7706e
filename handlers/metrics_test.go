package handlers_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
)

const metricsToken = "scrape-me-0123456789abcdef"

// withMetrics serves /metrics on the app's address behind token (app
// wires the registry, the metered client and the minter's outcomes as
// serve does).
func withMetrics(token string) envOption {
	return func(c *app.Config, _ *app.Parts) { c.MetricsToken = token }
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func parseExposition(t *testing.T, body string) []sample {
	t.Helper()
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		series, val := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		s := sample{name: series, labels: map[string]string{}, value: v}
		if j := strings.IndexByte(series, '{'); j >= 0 {
			s.name = series[:j]
			for _, kv := range strings.Split(strings.TrimSuffix(series[j+1:], "}"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		out = append(out, s)
	}
	return out
}

// find returns the first sample of name whose labels include want.
func find(samples []sample, name string, want map[string]string) (sample, bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			if s.labels[k] != v {
				ok = false
			}
		}
		if ok {
			return s, true
		}
	}
	return sample{}, false
}

func scrape(t *testing.T, e *env, auth string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/metrics", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		sb.WriteString(sc.Text() + "\n")
	}
	return resp, sb.String()
}

func TestMetricsAfterAScriptedScenario(t *testing.T) {
	e := newEnv(t, withMetrics(metricsToken))
	b := financeBrowser(t, e)
	p := b.post("/links", b.fillLinkForm(validLink()))
	if p.status() != http.StatusSeeOther {
		t.Fatalf("create: %d", p.status())
	}
	id := linkIDFrom(t, p.location())
	if p := b.get(p.location()); p.status() != http.StatusOK {
		t.Fatalf("link page: %d", p.status())
	}
	b.get("/links")
	b.get("/no/such/page-4711")

	resp, body := scrape(t, e, "Bearer "+metricsToken)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("the metrics response sets a cookie")
	}
	samples := parseExposition(t, body)
	want := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"paylinks_http_request_duration_seconds_count", map[string]string{"method": "GET", "route": "/links", "status": "200"}, 1},
		{"paylinks_http_request_duration_seconds_count", map[string]string{"method": "POST", "route": "/links", "status": "303"}, 1},
		{"paylinks_http_request_duration_seconds_count", map[string]string{"method": "GET", "route": "/links/:id", "status": "200"}, 1},
		{"paylinks_http_request_duration_seconds_count", map[string]string{"method": "POST", "route": "/login", "status": "303"}, 1},
		{"paylinks_http_request_duration_seconds_bucket", map[string]string{"route": "/links", "le": "+Inf"}, 1},
		{"paylinks_link_creations_total", map[string]string{"outcome": "ok"}, 1},
		{"paylinks_link_creations_total", map[string]string{"outcome": "refused"}, 0},
		{"paylinks_stablemint_call_duration_seconds_count", map[string]string{"outcome": "ok"}, 1},
		{"paylinks_stablemint_breaker_state", map[string]string{"state": "closed"}, 1},
		{"paylinks_stablemint_breaker_state", map[string]string{"state": "open"}, 0},
		{"paylinks_sessions_active", nil, 1},
		{"paylinks_webhook_deliveries_total", map[string]string{"outcome": "accepted"}, 0},
		{"paylinks_emails_total", map[string]string{"outcome": "sent"}, 0},
		{"paylinks_outbox_depth", nil, 0}, // the real store has OutboxDepth
		{"go_goroutines", nil, 1},
	}
	for _, w := range want {
		s, ok := find(samples, w.name, w.labels)
		if !ok {
			t.Errorf("no %s%v in the scrape", w.name, w.labels)
			continue
		}
		if s.value < w.min {
			t.Errorf("%s%v = %v, want at least %v", w.name, w.labels, s.value, w.min)
		}
	}
	if s, _ := find(samples, "paylinks_stablemint_breaker_state", map[string]string{"state": "open"}); s.value != 0 {
		t.Error("breaker reported open")
	}
	// Routes are patterns: never a raw URL, an id or an unknown path.
	for _, s := range samples {
		r := s.labels["route"]
		if strings.Contains(r, "4711") || strings.Contains(r, "/links/"+itoa(int(id))) {
			t.Errorf("raw URL in a label: %s%v", s.name, s.labels)
		}
	}
	if _, ok := find(samples, "paylinks_http_request_duration_seconds_count", map[string]string{"status": "404"}); !ok {
		t.Error("the 404 was not counted")
	}
}

func TestMetricsNeedTheToken(t *testing.T) {
	e := newEnv(t, withMetrics(metricsToken))
	cases := []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong", http.StatusUnauthorized},
		{"token with a suffix", "Bearer " + metricsToken + "x", http.StatusUnauthorized},
		{"basic scheme", "Basic " + metricsToken, http.StatusUnauthorized},
		{"bearer token", "Bearer " + metricsToken, http.StatusOK},
		{"scheme in any case", "bearer " + metricsToken, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := scrape(t, e, tc.auth)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") || strings.Contains(body, "paylinks_") {
					t.Errorf("refusal: %v %q", resp.Header, body)
				}
			}
		})
	}
}

func TestMetricsWithoutTokenAreNotServed(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	resp, body := scrape(t, e, "")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "paylinks_") {
		t.Fatalf("status %d, want 404 without metrics", resp.StatusCode)
	}
	// Not for a signed-in admin either.
	b := e.browser()
	b.login("admin@example.com")
	if p := b.get("/metrics"); p.status() != http.StatusNotFound {
		t.Fatalf("admin: %d, want 404", p.status())
	}
}

// Two servers in one process keep their own registries.
func TestMetricsRegistriesAreSeparate(t *testing.T) {
	a := newEnv(t, withMetrics(metricsToken))
	b := newEnv(t, withMetrics(metricsToken))
	a.browser().get("/login")
	_, body := scrape(t, b, "Bearer "+metricsToken)
	if s, ok := find(parseExposition(t, body), "paylinks_http_request_duration_seconds_count", map[string]string{"route": "/login"}); ok {
		t.Fatalf("server b counted server a's request: %v", s)
	}
}

// outboxStore is the store with the method the outbox's owner adds.
type outboxStore struct{ *db.Store }

func (outboxStore) OutboxDepth(context.Context) (int, error) { return 7, nil }

func TestMetricsPickUpTheOutboxDepth(t *testing.T) {
	e := newEnv(t, withMetrics(metricsToken), func(c *app.Config, _ *app.Parts) {
		c.Web = func(o *handlers.Options) { o.Store = outboxStore{o.Store.(*db.Store)} }
	})
	_, body := scrape(t, e, "Bearer "+metricsToken)
	if s, ok := find(parseExposition(t, body), "paylinks_outbox_depth", nil); !ok || s.value != 7 {
		t.Fatalf("paylinks_outbox_depth = %v (present %v), want 7", s.value, ok)
	}
}
