package stablemint_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/stablemint"
)

func newTestClock() *testkit.Clock { return testkit.NewClock(fixedNow) }

// sleepRecorder replaces the client's Sleep: it records each wait and
// returns at once (or with ctx's error).
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// received is one request as the fake StableMint saw it.
type received struct {
	Header http.Header
	Body   []byte
	Path   string
	Method string
}

// fakeStableMint is an httptest server on loopback whose answer to the
// n-th request (0-based) comes from respond.
type fakeStableMint struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
	respond  func(w http.ResponseWriter, r *http.Request, n int)
}

func newFakeStableMint(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *fakeStableMint {
	t.Helper()
	f := &fakeStableMint{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.requests)
		f.requests = append(f.requests, received{Header: r.Header.Clone(), Body: body, Path: r.URL.Path, Method: r.Method})
		f.mu.Unlock()
		f.respond(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeStableMint) Requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.requests...)
}

// okSession answers a valid session on the fake's own host.
func (f *fakeStableMint) okSession(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"url":%q,"expiresAt":1767225600,"reference":"SES-1"}`, f.URL+"/checkout/SES-1"))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// newTestClient returns a client for base with fast, deterministic retries:
// Sleep is recorded, Jitter returns the full ceiling.
func newTestClient(t *testing.T, base string, edit ...func(*stablemint.Config)) (*stablemint.Client, *sleepRecorder) {
	t.Helper()
	sleeps := &sleepRecorder{}
	cfg := stablemint.Config{
		BaseURL:    base,
		APIKey:     "key-1",
		APISecret:  goldenSecret,
		PrivateKey: testKey(t, partnerKeyFile),
		Now:        fixedClock,
		Sleep:      sleeps.Sleep,
		Jitter:     func(ceiling time.Duration) time.Duration { return ceiling },
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := stablemint.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, sleeps
}

func TestCreateHostedSessionSuccess(t *testing.T) {
	for _, scheme := range []stablemint.Scheme{stablemint.SchemeV1, stablemint.SchemeV2} {
		t.Run(string(scheme), func(t *testing.T) {
			var fake *fakeStableMint
			fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { fake.okSession(w) })
			c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) { c.Scheme = scheme })
			req := validRequest(t)
			req.WebsiteReference = "" // optional and empty: must be omitted

			sess, err := c.CreateHostedSession(context.Background(), req)
			if err != nil {
				t.Fatalf("CreateHostedSession: %v", err)
			}
			want := stablemint.Session{URL: fake.URL + "/checkout/SES-1", ExpiresAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Reference: "SES-1"}
			if sess != want {
				t.Errorf("session = %+v, want %+v", sess, want)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.Method != http.MethodPost || got.Path != "/session/hosted" || got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request = %s %s (Content-Type %q), want POST /session/hosted application/json", got.Method, got.Path, got.Header.Get("Content-Type"))
			}
			wantBody, _ := req.MarshalJSON()
			if !bytes.Equal(got.Body, wantBody) {
				t.Errorf("body =\n %s\nwant\n %s", got.Body, wantBody)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(got.Body, &fields); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"websiteReference", "customFields", "userKyc"} {
				if _, ok := fields[k]; ok {
					t.Errorf("empty optional field %q was sent", k)
				}
			}
			if string(fields["amount"]) != "9.50" {
				t.Errorf("amount = %s, want 9.50", fields["amount"])
			}
			checkSignature(t, scheme, got, &testKey(t, partnerKeyFile).PublicKey)
		})
	}
}

// checkSignature verifies the received headers the way StableMint would.
func checkSignature(t *testing.T, scheme stablemint.Scheme, r received, pub *rsa.PublicKey) {
	t.Helper()
	var key, ts, sig string
	var base []byte
	switch scheme {
	case stablemint.SchemeV1:
		key, ts, sig = r.Header.Get("api_key"), r.Header.Get("timestamp"), r.Header.Get("signature")
		base = []byte(ts + "," + goldenSecret + ",user-42")
		if ts != goldenV1TS {
			t.Errorf("v1 timestamp = %q, want %q (Unix ms)", ts, goldenV1TS)
		}
	case stablemint.SchemeV2:
		key, ts, sig = r.Header.Get("ApiKey"), r.Header.Get("Timestamp"), r.Header.Get("Signature")
		base = append([]byte(ts+","+goldenSecret+","), r.Body...)
		if ts != goldenV2TS {
			t.Errorf("v2 timestamp = %q, want %q (Unix s)", ts, goldenV2TS)
		}
	}
	if key != "key-1" {
		t.Errorf("api key header = %q, want key-1", key)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil {
		t.Fatalf("signature %q is not base64: %v", sig, err)
	}
	digest := sha256.Sum256(base)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], raw); err != nil {
		t.Errorf("signature does not verify over %q: %v", base, err)
	}
	for _, h := range []string{"X-Api-Secret", "Api_secret", "Secret"} {
		if r.Header.Get(h) != "" {
			t.Errorf("secret-like header %s sent", h)
		}
	}
	for name, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, goldenSecret) {
				t.Errorf("header %s carries the API secret", name)
			}
		}
	}
}

// TestClientSendsDocumentedHeaderCase reads the raw request off the wire:
// the headers must be spelled exactly as documented, not canonicalised.
func TestClientSendsDocumentedHeaderCase(t *testing.T) {
	tests := []struct {
		scheme stablemint.Scheme
		want   []string
	}{
		{stablemint.SchemeV1, []string{"api_key: key-1", "timestamp: " + goldenV1TS, "signature: "}},
		{stablemint.SchemeV2, []string{"ApiKey: key-1", "Timestamp: " + goldenV2TS, "Signature: "}},
	}
	for _, tt := range tests {
		t.Run(string(tt.scheme), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			base := "http://" + ln.Addr().String()
			lines := make(chan []string, 1)
			go serveOneRaw(ln, base, lines)
			c, _ := newTestClient(t, base, func(c *stablemint.Config) { c.Scheme = tt.scheme })
			if _, err := c.CreateHostedSession(context.Background(), validRequest(t)); err != nil {
				t.Fatalf("CreateHostedSession: %v", err)
			}
			got := <-lines
			for _, want := range tt.want {
				found := false
				for _, l := range got {
					found = found || strings.HasPrefix(l, want)
				}
				if !found {
					t.Errorf("no header line starting %q in\n%s", want, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// serveOneRaw answers one HTTP/1.1 request by hand and reports its header
// lines exactly as received.
func serveOneRaw(ln net.Listener, base string, lines chan<- []string) {
	conn, err := ln.Accept()
	if err != nil {
		lines <- nil
		return
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	var got []string
	length := 0
	for {
		l, err := br.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if err != nil || l == "" {
			break
		}
		got = append(got, l)
		if name, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(name, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	io.CopyN(io.Discard, br, int64(length))
	body := fmt.Sprintf(`{"url":%q,"expiresAt":1767225600,"reference":"SES-1"}`, base+"/checkout/SES-1")
	fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	lines <- got
}

func TestCreateHostedSessionRefusalsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 413, 422} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, status, `{"error":"refused","field":"amount"}`)
			})
			c, sleeps := newTestClient(t, fake.URL)
			_, err := c.CreateHostedSession(context.Background(), validRequest(t))
			var rej *stablemint.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("error = %v (%T), want *RejectedError", err, err)
			}
			if rej.Status != status || rej.Body != `{"error":"refused","field":"amount"}` {
				t.Errorf("RejectedError = %+v, want status %d and the raw body", rej, status)
			}
			if n := len(fake.Requests()); n != 1 || len(sleeps.Delays()) != 0 {
				t.Errorf("requests = %d, sleeps = %v; want 1 request, no retry", n, sleeps.Delays())
			}
			if stablemint.IsRetryable(err) {
				t.Error("IsRetryable = true, want false")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "StableMint") || !strings.HasSuffix(msg, ".") {
				t.Errorf("Error() = %q, want a sentence", msg)
			}
		})
	}
}

func TestRejectedBodyIsTruncated(t *testing.T) {
	long := strings.Repeat("x", 5000)
	fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 400, long) })
	c, _ := newTestClient(t, fake.URL)
	_, err := c.CreateHostedSession(context.Background(), validRequest(t))
	var rej *stablemint.RejectedError
	if !errors.As(err, &rej) || len(rej.Body) != 2048 {
		t.Fatalf("error = %v; want RejectedError with a 2048-byte body", err)
	}
}

func TestCreateHostedSessionRetries5xxWithSameKeyAndBody(t *testing.T) {
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			writeJSON(w, http.StatusInternalServerError, `oops`)
			return
		}
		fake.okSession(w)
	})
	c, sleeps := newTestClient(t, fake.URL)
	if _, err := c.CreateHostedSession(context.Background(), validRequest(t)); err != nil {
		t.Fatalf("CreateHostedSession: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	if !bytes.Equal(reqs[0].Body, reqs[1].Body) {
		t.Errorf("retry body differs:\n %s\n %s", reqs[0].Body, reqs[1].Body)
	}
	key0, key1 := idempotencyKey(t, reqs[0].Body), idempotencyKey(t, reqs[1].Body)
	if key0 != key1 || key0 != validRequest(t).IdempotencyKey {
		t.Errorf("idempotency keys = %q, %q; want both %q", key0, key1, validRequest(t).IdempotencyKey)
	}
	if got := sleeps.Delays(); len(got) != 1 || got[0] != 500*time.Millisecond {
		t.Errorf("backoff delays = %v, want [500ms] (jitter at its ceiling)", got)
	}
}

func idempotencyKey(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Key string `json:"idempotencyKey"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.Key
}

func TestCreateHostedSessionGivesUpAfterMaxAttempts(t *testing.T) {
	fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusServiceUnavailable, `down`)
	})
	c, sleeps := newTestClient(t, fake.URL)
	_, err := c.CreateHostedSession(context.Background(), validRequest(t))
	var un *stablemint.UnavailableError
	if !errors.As(err, &un) || un.Attempts != 4 || un.Status != 503 {
		t.Fatalf("error = %#v, want UnavailableError after 4 attempts, status 503", err)
	}
	if !stablemint.IsRetryable(err) {
		t.Error("IsRetryable = false, want true")
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if got := sleeps.Delays(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	if n := len(fake.Requests()); n != 4 {
		t.Errorf("requests = %d, want 4", n)
	}
	if msg := err.Error(); !strings.Contains(msg, "4 attempts") || !strings.Contains(msg, "503") {
		t.Errorf("Error() = %q, want the attempts and last status", msg)
	}
}

func TestBackoffIsCappedFullJitter(t *testing.T) {
	fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 502, ``) })
	var ceilings []time.Duration
	c, sleeps := newTestClient(t, fake.URL, func(c *stablemint.Config) {
		c.MaxAttempts = 8
		c.BackoffBase = time.Second
		c.BackoffCap = 5 * time.Second
		c.CallTimeout = time.Minute
		c.Jitter = func(ceiling time.Duration) time.Duration {
			ceilings = append(ceilings, ceiling)
			return ceiling / 2
		}
	})
	c.CreateHostedSession(context.Background(), validRequest(t))
	wantCeilings := "[1s 2s 4s 5s 5s 5s 5s]"
	if fmt.Sprint(ceilings) != wantCeilings {
		t.Errorf("jitter ceilings = %v, want %s", ceilings, wantCeilings)
	}
	if got, want := fmt.Sprint(sleeps.Delays()), "[500ms 1s 2s 2.5s 2.5s 2.5s 2.5s]"; got != want {
		t.Errorf("delays = %s, want %s", got, want)
	}
}

func TestCreateHostedSessionHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		wantDelays string
		wantOK     bool
		wantReqs   int
	}{
		{"seconds", "10", "[10s]", true, 2},
		{"http date", fixedNow.Add(7 * time.Second).Format(http.TimeFormat), "[7s]", true, 2},
		{"beyond the cap ends the call", "120", "[]", false, 1},
		{"unreadable falls back to backoff", "soon", "[500ms]", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fake *fakeStableMint
			fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					w.Header().Set("Retry-After", tt.retryAfter)
					writeJSON(w, http.StatusTooManyRequests, `slow down`)
					return
				}
				fake.okSession(w)
			})
			c, sleeps := newTestClient(t, fake.URL)
			_, err := c.CreateHostedSession(context.Background(), validRequest(t))
			if (err == nil) != tt.wantOK {
				t.Fatalf("error = %v, want success %v", err, tt.wantOK)
			}
			if got := fmt.Sprint(sleeps.Delays()); got != tt.wantDelays {
				t.Errorf("delays = %s, want %s", got, tt.wantDelays)
			}
			if n := len(fake.Requests()); n != tt.wantReqs {
				t.Errorf("requests = %d, want %d", n, tt.wantReqs)
			}
			var un *stablemint.UnavailableError
			if !tt.wantOK && (!errors.As(err, &un) || un.Status != 429 || un.Attempts != 1) {
				t.Errorf("error = %#v, want UnavailableError{Attempts: 1, Status: 429}", err)
			}
		})
	}
}

func TestCreateHostedSessionTimeouts(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() }
	t.Run("response header timeout, every attempt", func(t *testing.T) {
		fake := newFakeStableMint(t, hang)
		c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) {
			c.ResponseHeaderTimeout = 50 * time.Millisecond
			c.MaxAttempts = 2
		})
		start := time.Now()
		_, err := c.CreateHostedSession(context.Background(), validRequest(t))
		var un *stablemint.UnavailableError
		if !errors.As(err, &un) || un.Attempts != 2 || un.Status != 0 {
			t.Fatalf("error = %#v, want UnavailableError after 2 attempts", err)
		}
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("underlying error %v is not a timeout", un.Err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("took %s", elapsed)
		}
	})
	t.Run("whole-call deadline", func(t *testing.T) {
		fake := newFakeStableMint(t, hang)
		c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) { c.CallTimeout = 100 * time.Millisecond })
		_, err := c.CreateHostedSession(context.Background(), validRequest(t))
		var un *stablemint.UnavailableError
		if !errors.As(err, &un) || un.Attempts != 1 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %#v, want UnavailableError after 1 attempt wrapping DeadlineExceeded", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		c, sleeps := newTestClient(t, "http://"+addr, func(c *stablemint.Config) { c.MaxAttempts = 3 })
		_, err := c.CreateHostedSession(context.Background(), validRequest(t))
		var un *stablemint.UnavailableError
		if !errors.As(err, &un) || un.Attempts != 3 || len(sleeps.Delays()) != 2 {
			t.Fatalf("error = %#v, sleeps %v; want UnavailableError after 3 attempts", err, sleeps.Delays())
		}
	})
}

func TestCreateHostedSessionDoesNotFollowRedirects(t *testing.T) {
	target := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, `{}`) })
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
				http.Redirect(w, r, target.URL+"/latest/meta-data/", status)
			})
			c, _ := newTestClient(t, fake.URL)
			_, err := c.CreateHostedSession(context.Background(), validRequest(t))
			var rej *stablemint.RejectedError
			if !errors.As(err, &rej) || rej.Status != status {
				t.Fatalf("error = %v, want RejectedError with status %d", err, status)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
	if n := len(target.Requests()); n != 0 {
		t.Errorf("redirect target was contacted %d times", n)
	}
}

func TestCreateHostedSessionResponseChecks(t *testing.T) {
	var fake *fakeStableMint
	var body string
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, strings.ReplaceAll(body, "SELF", strings.TrimPrefix(fake.URL, "http://")))
	})
	newYear := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sess := func(url string, exp time.Time) stablemint.Session {
		return stablemint.Session{URL: url, ExpiresAt: exp, Reference: "R1"}
	}
	const (
		ok        = ""
		refused   = "response"  // *ResponseError, no session
		untrusted = "untrusted" // the session, complete, and an error
	)
	tests := []struct {
		name string
		body string
		want stablemint.Session // unless refused
		err  string
	}{
		{"seconds", `{"url":"http://SELF/c/1","expiresAt":1767225600,"reference":"R1"}`, sess("http://SELF/c/1", newYear), ok},
		{"milliseconds", `{"url":"http://SELF/c/1","expiresAt":1767225600123,"reference":"R1"}`,
			sess("http://SELF/c/1", newYear.Add(123*time.Millisecond)), ok},
		{"just above 1e12 is milliseconds", `{"url":"http://SELF/c/1","expiresAt":1000000000001,"reference":"R1"}`,
			sess("http://SELF/c/1", time.UnixMilli(1000000000001).UTC()), ok},
		{"https on allowed host", `{"url":"https://pay.example/c/1","expiresAt":1767225600,"reference":"R1"}`, sess("https://pay.example/c/1", newYear), ok},
		{"host compared case-insensitively", `{"url":"https://PAY.Example/c/1","expiresAt":1767225600,"reference":"R1"}`, sess("https://PAY.Example/c/1", newYear), ok},
		{"unknown fields ignored", `{"url":"https://pay.example/c","expiresAt":1767225600,"reference":"R1","extra":[1]}`, sess("https://pay.example/c", newYear), ok},

		// expiresAt, read as tolerantly as the documents allow; what cannot
		// be read is "expiry unknown" (the zero time), never an error.
		{"expiresAt zero: unknown", `{"url":"https://pay.example/c","expiresAt":0,"reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt null: unknown", `{"url":"https://pay.example/c","expiresAt":null,"reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt missing: unknown", `{"url":"https://pay.example/c","reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt fractional seconds", `{"url":"https://pay.example/c","expiresAt":1767225600.5,"reference":"R1"}`,
			sess("https://pay.example/c", newYear.Add(500*time.Millisecond)), ok},
		{"expiresAt fractional milliseconds", `{"url":"https://pay.example/c","expiresAt":1767225600123.5,"reference":"R1"}`,
			sess("https://pay.example/c", newYear.Add(123500*time.Microsecond)), ok},
		{"expiresAt with an exponent", `{"url":"https://pay.example/c","expiresAt":1.7672256e9,"reference":"R1"}`, sess("https://pay.example/c", newYear), ok},
		{"expiresAt RFC 3339 string", `{"url":"https://pay.example/c","expiresAt":"2026-01-01T01:00:00+01:00","reference":"R1"}`, sess("https://pay.example/c", newYear), ok},
		{"expiresAt string without zone is UTC", `{"url":"https://pay.example/c","expiresAt":"2026-01-01T00:00:00.250","reference":"R1"}`,
			sess("https://pay.example/c", newYear.Add(250*time.Millisecond)), ok},
		{"expiresAt numeric string", `{"url":"https://pay.example/c","expiresAt":"1767225600","reference":"R1"}`, sess("https://pay.example/c", newYear), ok},
		{"expiresAt empty string: unknown", `{"url":"https://pay.example/c","expiresAt":"","reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt unreadable string: unknown", `{"url":"https://pay.example/c","expiresAt":"tomorrow","reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt negative: unknown", `{"url":"https://pay.example/c","expiresAt":-1,"reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt an object: unknown", `{"url":"https://pay.example/c","expiresAt":{"s":1},"reference":"R1"}`, sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt 1e12 seconds is past year 9999: unknown", `{"url":"https://pay.example/c","expiresAt":1000000000000,"reference":"R1"}`,
			sess("https://pay.example/c", time.Time{}), ok},
		{"expiresAt in the past is kept", `{"url":"https://pay.example/c","expiresAt":1000000000,"reference":"R1"}`,
			sess("https://pay.example/c", time.Unix(1000000000, 0).UTC()), ok},

		// A well-formed checkout URL on a host that is not allowed: the
		// session exists, so it comes back, complete, with the error.
		{"host not allowed", `{"url":"https://evil.example/c/1","expiresAt":1767225600,"reference":"R1"}`, sess("https://evil.example/c/1", newYear), untrusted},
		{"subdomain of allowed host", `{"url":"https://x.pay.example/c","expiresAt":1767225600,"reference":"R1"}`, sess("https://x.pay.example/c", newYear), untrusted},
		{"allowed host with other port", `{"url":"https://pay.example:8443/c","expiresAt":1767225600,"reference":"R1"}`, sess("https://pay.example:8443/c", newYear), untrusted},
		{"host not allowed, expiry unknown", `{"url":"https://evil.example/c/1","expiresAt":0,"reference":"R1"}`, sess("https://evil.example/c/1", time.Time{}), untrusted},

		// Anything else wrong with the URL, or no reference: unusable.
		{"plain http off loopback", `{"url":"http://pay.example/c/1","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"javascript", `{"url":"javascript:alert(1)","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"data url", `{"url":"data:text/html,<script>alert(1)</script>","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"scheme-relative", `{"url":"//evil.example/x","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"relative", `{"url":"/c/1","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"user info", `{"url":"https://pay.example@evil.example/c","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"user info on allowed host", `{"url":"https://evil@pay.example/c","expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"missing url", `{"expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"url not a string", `{"url":42,"expiresAt":1767225600,"reference":"R1"}`, stablemint.Session{}, refused},
		{"missing reference", `{"url":"https://pay.example/c","expiresAt":1767225600}`, stablemint.Session{}, refused},
		{"empty reference", `{"url":"https://pay.example/c","expiresAt":1767225600,"reference":" "}`, stablemint.Session{}, refused},
		{"null reference", `{"url":"https://pay.example/c","expiresAt":1767225600,"reference":null}`, stablemint.Session{}, refused},
		{"host not allowed, no reference", `{"url":"https://evil.example/c/1","expiresAt":1767225600}`, stablemint.Session{}, refused},
		{"not JSON", `<html>ok</html>`, stablemint.Session{}, refused},
		{"JSON array", `[]`, stablemint.Session{}, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body = tt.body
			c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) {
				c.CheckoutHosts = []string{strings.TrimPrefix(fake.URL, "http://"), "pay.example"}
			})
			got, err := c.CreateHostedSession(context.Background(), validRequest(t))
			want := tt.want
			want.URL = strings.ReplaceAll(want.URL, "SELF", strings.TrimPrefix(fake.URL, "http://"))
			var re *stablemint.ResponseError
			switch tt.err {
			case ok:
				if err != nil || got != want {
					t.Errorf("got %+v, %v; want %+v", got, err, want)
				}
			case refused:
				if !errors.As(err, &re) || re.Status != 200 || got != (stablemint.Session{}) {
					t.Fatalf("got %+v, %v; want *ResponseError and no session", got, err)
				}
			case untrusted:
				var ue *stablemint.UntrustedCheckoutError
				if !errors.As(err, &ue) || errors.As(err, &re) || got != want {
					t.Fatalf("got %+v, %v; want %+v and an *UntrustedCheckoutError", got, err, want)
				}
				if u, _ := url.Parse(want.URL); ue.Host != strings.ToLower(u.Host) {
					t.Errorf("Host = %q, want %q", ue.Host, strings.ToLower(u.Host))
				}
			}
			if err != nil && stablemint.IsRetryable(err) {
				t.Error("IsRetryable = true, want false")
			}
		})
	}
}

// TestParseExpiresAt: each spelling of expiresAt the documents allow, as
// the raw JSON of the field ("" when the field is missing). A zero time
// with no error is "expiry unknown".
func TestParseExpiresAt(t *testing.T) {
	newYear := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var unknown time.Time
	tests := []struct {
		raw  string
		want time.Time
		ok   bool
	}{
		{"1767225600", newYear, true},
		{"1767225600.5", newYear.Add(500 * time.Millisecond), true},
		{"1767225600.123456789123", newYear.Add(123456789), true}, // beyond nanoseconds: cut
		{"1.7672256e9", newYear, true},
		{"17672256E2", newYear, true},
		{"1767225600000", newYear, true},
		{"1767225600123", newYear.Add(123 * time.Millisecond), true},
		{"1767225600123.456", newYear.Add(123456 * time.Microsecond), true},
		{"1000000000000", unknown, false},                                                 // 1e12 is seconds: after 9999
		{"1000000000000.5", time.UnixMilli(1e12).UTC().Add(500 * time.Microsecond), true}, // above 1e12: ms
		{"1000000000001", time.UnixMilli(1000000000001).UTC(), true},
		{"99999999999", time.Unix(99999999999, 0).UTC(), true},
		{"253402300799", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true},
		{"253402300800", unknown, false},
		{"253402300799999", time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), true},
		{"253402300800000", unknown, false},
		{"1", time.Unix(1, 0).UTC(), true}, // in the past, but a time
		{"1e-1", time.Unix(0, 100e6).UTC(), true},
		{"0", unknown, true},
		{"0.0", unknown, true},
		{"0e5", unknown, true},
		{"null", unknown, true},
		{"", unknown, true},
		{`""`, unknown, true},
		{`"2026-01-01T00:00:00Z"`, newYear, true},
		{`"2026-01-01T01:00:00+01:00"`, newYear, true},
		{`"2025-12-31T19:00:00-0500"`, newYear, true},
		{`"2026-01-01T00:00:00"`, newYear, true},
		{`"2026-01-01T00:00:00.5"`, newYear.Add(500 * time.Millisecond), true},
		{`"2026-01-01t00:00:00z"`, newYear, true},
		{`"1767225600"`, newYear, true},
		{`"1767225600000"`, newYear, true},
		{`"0"`, unknown, true},
		{"-1", unknown, false},
		{"-0", unknown, true},
		{"+1767225600", unknown, false},
		{"01767225600", unknown, false},
		{"1e99999", unknown, false},
		{"true", unknown, false},
		{"{}", unknown, false},
		{"[1767225600]", unknown, false},
		{`"tomorrow"`, unknown, false},
		{`"2026-01-01 00:00:00Z"`, unknown, false},
		{`"2026-02-30T00:00:00Z"`, unknown, false},
		{`"10000-01-01T00:00:00Z"`, unknown, false},
		{`"1969-12-31T23:59:59Z"`, unknown, false},
		{`" 2026-01-01T00:00:00Z"`, unknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := stablemint.ParseExpiresAt(tt.raw)
			if (err == nil) != tt.ok || !got.Equal(tt.want) || (!got.IsZero() && got.Location() != time.UTC) {
				t.Errorf("ParseExpiresAt(%s) = %v, %v; want %v, ok %v", tt.raw, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestCheckCheckoutURL(t *testing.T) {
	hosts := []string{"pay.example", "127.0.0.1:9090", "localhost:9090", "[::1]:9090", "*.stablemint.io"}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://pay.example/s/1", true},
		{"http://127.0.0.1:9090/s/1", true},
		{"http://localhost:9090/s/1", true},
		{"http://[::1]:9090/s/1", true},
		{"HTTPS://pay.example/s/1", true},
		{"http://pay.example/s/1", false},
		{"https://127.0.0.1:9091/s/1", false},
		{"https://pay.example./s/1", false},
		{"https://pay.example:443/s/1", false},
		{"https://pay.example\\@evil.example/", false},
		{"https://pay.example/s/1\n", false},
		{"ftp://pay.example/s/1", false},
		{"https:pay.example/s/1", false},
		{"", false},
		{"https://checkout.stablemint.io/s/1", true},
		{"https://a.b.stablemint.io/s/1", true},
		{"https://Checkout.StableMint.io/s/1", true},
		{"https://stablemint.io/s/1", false},
		{"https://evilstablemint.io/s/1", false},
		{"https://checkout.stablemint.io:443/s/1", false},
		{"https://checkout.stablemint.io./s/1", false},
		{"https://checkout.stablemint.io.evil.example/s/1", false},
		{"https://-x.stablemint.io/s/1", false},
		{"http://checkout.stablemint.io/s/1", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := stablemint.CheckCheckoutURL(tt.url, hosts)
			if (err == nil) != tt.ok {
				t.Errorf("CheckCheckoutURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
			}
		})
	}
}

// With no CheckoutHosts configured, the client allows any https host under
// stablemint.io and stablemint.net and the API's own host; a checkout URL
// elsewhere gives the complete session and an *UntrustedCheckoutError.
func TestDefaultCheckoutHosts(t *testing.T) {
	var fake *fakeStableMint
	var checkoutURL string
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, fmt.Sprintf(`{"url":%q,"expiresAt":1767225600,"reference":"R1"}`, checkoutURL))
	})
	self := strings.TrimPrefix(fake.URL, "http://")
	tests := []struct {
		url       string
		untrusted string // the host named, "" when allowed
	}{
		{"https://checkout.stablemint.io/s/1", ""},
		{"https://pay.eu.stablemint.net/s/1", ""},
		{"https://paymentinitiationservice-rest.stablemint.io/checkout/1", ""},
		{"https://CHECKOUT.StableMint.IO/s/1", ""},
		{"http://" + self + "/checkout/1", ""}, // the API's own host (here our loopback fake)
		{"https://evilstablemint.io/s/1", "evilstablemint.io"},
		{"https://stablemint.io.evil.example/s/1", "stablemint.io.evil.example"},
		{"https://stablemint.io/s/1", "stablemint.io"},
		{"https://checkout.stablemint.io:8443/s/1", "checkout.stablemint.io:8443"},
		{"https://checkout.stablemint.com/s/1", "checkout.stablemint.com"},
		{"https://x..stablemint.io/s/1", "x..stablemint.io"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			checkoutURL = tt.url
			c, _ := newTestClient(t, fake.URL)
			sess, err := c.CreateHostedSession(context.Background(), validRequest(t))
			if sess.URL != tt.url || sess.Reference != "R1" || !sess.ExpiresAt.Equal(time.Unix(1767225600, 0)) {
				t.Errorf("session = %+v, want it complete", sess)
			}
			var ue *stablemint.UntrustedCheckoutError
			switch {
			case tt.untrusted == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.untrusted != "" && (!errors.As(err, &ue) || ue.Host != tt.untrusted):
				t.Errorf("error %v, want an *UntrustedCheckoutError naming %s", err, tt.untrusted)
			}
		})
	}
	if got := stablemint.DefaultCheckoutHosts("https://paymentinitiationservice-rest.stablemint.net"); !slices.Equal(got,
		[]string{"paymentinitiationservice-rest.stablemint.net", "*.stablemint.io", "*.stablemint.net"}) {
		t.Errorf("DefaultCheckoutHosts = %v", got)
	}
}

// An untrusted checkout host is a final answer: one request, no retry, not
// retryable, and StableMint counts as up (the breaker stays closed). The
// log names the reference and the host.
func TestUntrustedCheckoutHostIsFinal(t *testing.T) {
	fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"url":"https://evil.example/c/1","expiresAt":1767225600,"reference":"R1"}`)
	})
	var logs bytes.Buffer
	c, sleeps := newTestClient(t, fake.URL, func(c *stablemint.Config) {
		c.BreakerThreshold = 1
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	for range 3 {
		sess, err := c.CreateHostedSession(context.Background(), validRequest(t))
		var ue *stablemint.UntrustedCheckoutError
		if !errors.As(err, &ue) || sess.Reference != "R1" {
			t.Fatalf("got %+v, %v", sess, err)
		}
		if stablemint.IsRetryable(err) {
			t.Error("IsRetryable = true")
		}
	}
	if n := len(fake.Requests()); n != 3 || len(sleeps.Delays()) != 0 {
		t.Errorf("%d requests and %d waits for 3 calls, want 3 and 0", n, len(sleeps.Delays()))
	}
	if c.BreakerState() != stablemint.BreakerClosed {
		t.Errorf("breaker %s, want closed", c.BreakerState())
	}
	if !strings.Contains(logs.String(), "reference=R1") || !strings.Contains(logs.String(), "host=evil.example") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// customFields is sent as a JSON object by default, or JSON-encoded into a
// string with CustomFieldsString; empty, it is left out either way.
func TestCustomFieldsEncoding(t *testing.T) {
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { fake.okSession(w) })
	fields := map[string]string{"order": "A-1", "note": "<b>&</b>"}
	tests := []struct {
		format stablemint.CustomFieldsFormat
		fields map[string]string
		want   string // the raw JSON of customFields; "" = absent
	}{
		{"", fields, `{"note":"<b>&</b>","order":"A-1"}`},
		{stablemint.CustomFieldsObject, fields, `{"note":"<b>&</b>","order":"A-1"}`},
		{stablemint.CustomFieldsString, fields, `"{\"note\":\"<b>&</b>\",\"order\":\"A-1\"}"`},
		{stablemint.CustomFieldsObject, nil, ""},
		{stablemint.CustomFieldsString, nil, ""},
		{stablemint.CustomFieldsString, map[string]string{}, ""},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.format), func(t *testing.T) {
			c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) { c.CustomFieldsAs = tt.format })
			req := validRequest(t)
			req.IdempotencyKey = fmt.Sprintf("key-%d", i)
			req.CustomFields = tt.fields
			if _, err := c.CreateHostedSession(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			reqs := fake.Requests()
			var body map[string]json.RawMessage
			if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
				t.Fatal(err)
			}
			if got := string(body["customFields"]); got != tt.want {
				t.Errorf("customFields = %s, want %s", got, tt.want)
			}
			if tt.format == stablemint.CustomFieldsString && tt.want != "" {
				var inner string
				var decoded map[string]string
				if json.Unmarshal(body["customFields"], &inner) != nil || json.Unmarshal([]byte(inner), &decoded) != nil ||
					!maps.Equal(decoded, tt.fields) {
					t.Errorf("customFields %s does not decode to %v", body["customFields"], tt.fields)
				}
			}
		})
	}
	for s, want := range map[string]stablemint.CustomFieldsFormat{"": stablemint.CustomFieldsObject,
		"object": stablemint.CustomFieldsObject, "string": stablemint.CustomFieldsString} {
		if got, err := stablemint.ParseCustomFieldsFormat(s); err != nil || got != want {
			t.Errorf("ParseCustomFieldsFormat(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := stablemint.ParseCustomFieldsFormat("Object"); err == nil {
		t.Error("ParseCustomFieldsFormat(Object) accepted")
	}
}

// Each record the client writes names its component once, whatever logger
// it is given (cmd/paylinks passes one without a component).
func TestClientLogsItsComponentOnce(t *testing.T) {
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			writeJSON(w, 500, `boom`)
			return
		}
		fake.okSession(w)
	})
	var logs bytes.Buffer
	c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if _, err := c.CreateHostedSession(context.Background(), validRequest(t)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d log lines, want a failed attempt and a success:\n%s", len(lines), logs.String())
	}
	for _, line := range lines {
		if n := strings.Count(line, `"component":`); n != 1 || !strings.Contains(line, `"component":"stablemint"`) {
			t.Errorf("%d components in %s", n, line)
		}
	}
}

func TestCreateHostedSessionValidatesFirst(t *testing.T) {
	fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { t.Error("request sent") })
	c, _ := newTestClient(t, fake.URL)
	req := validRequest(t)
	req.IdempotencyKey = ""
	req.UserCountryCode = "XX"
	_, err := c.CreateHostedSession(context.Background(), req)
	var errs stablemint.ValidationErrors
	if !errors.As(err, &errs) {
		t.Fatalf("error = %v, want ValidationErrors", err)
	}
	if got := fmt.Sprint(errs.ByField()["userCountryCode"] != "", errs.ByField()["idempotencyKey"] != ""); got != "true true" {
		t.Errorf("errors = %v, want userCountryCode and idempotencyKey", errs)
	}
	if c.BreakerState() != stablemint.BreakerClosed {
		t.Errorf("breaker = %s after validation errors, want closed", c.BreakerState())
	}
}

func TestCircuitBreaker(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusServiceUnavailable
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		s := status
		mu.Unlock()
		if s == 200 {
			fake.okSession(w)
			return
		}
		writeJSON(w, s, `down`)
	})
	setStatus := func(s int) { mu.Lock(); status = s; mu.Unlock() }
	clock := newTestClock()
	c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) { c.Now = clock.Now; c.MaxAttempts = 2 })
	ctx := context.Background()
	call := func() error { _, err := c.CreateHostedSession(ctx, validRequest(t)); return err }

	for i := range 4 {
		if err := call(); !stablemint.IsRetryable(err) || errors.Is(err, stablemint.ErrCircuitOpen) {
			t.Fatalf("call %d: error = %v, want an ordinary UnavailableError", i+1, err)
		}
	}
	if got := c.BreakerState(); got != stablemint.BreakerClosed {
		t.Fatalf("after 4 failed calls breaker = %s, want closed", got)
	}
	if got := len(fake.Requests()); got != 8 {
		t.Errorf("requests after 4 calls = %d, want 8 (a call is all its attempts)", got)
	}
	call()
	if got := c.BreakerState(); got != stablemint.BreakerOpen {
		t.Fatalf("after 5 failed calls breaker = %s, want open", got)
	}

	before := len(fake.Requests())
	err := call()
	var un *stablemint.UnavailableError
	if !errors.Is(err, stablemint.ErrCircuitOpen) || !errors.As(err, &un) || un.Attempts != 0 {
		t.Fatalf("while open: error = %#v, want UnavailableError wrapping ErrCircuitOpen", err)
	}
	if !stablemint.IsRetryable(err) || !strings.Contains(err.Error(), "paused") {
		t.Errorf("open error %q: want retryable and a friendly sentence", err)
	}
	if got := len(fake.Requests()); got != before {
		t.Errorf("open breaker sent %d requests", got-before)
	}

	clock.Advance(29 * time.Second)
	if err := call(); !errors.Is(err, stablemint.ErrCircuitOpen) || c.BreakerState() != stablemint.BreakerOpen {
		t.Fatalf("29s after opening: error = %v, state %s; want still open", err, c.BreakerState())
	}
	clock.Advance(time.Second)
	if got := c.BreakerState(); got != stablemint.BreakerHalfOpen {
		t.Fatalf("after the 30s cool-down breaker = %s, want half-open", got)
	}

	// A failed probe re-opens it for another cool-down.
	if err := call(); errors.Is(err, stablemint.ErrCircuitOpen) || !stablemint.IsRetryable(err) {
		t.Fatalf("probe: error = %v, want a real attempt that fails", err)
	}
	if got := c.BreakerState(); got != stablemint.BreakerOpen {
		t.Fatalf("after a failed probe breaker = %s, want open", got)
	}
	clock.Advance(30 * time.Second)

	// A successful probe closes it.
	setStatus(200)
	if err := call(); err != nil {
		t.Fatalf("probe after recovery: %v", err)
	}
	if got := c.BreakerState(); got != stablemint.BreakerClosed {
		t.Fatalf("after a successful probe breaker = %s, want closed", got)
	}
}

func TestCircuitBreakerAllowsOneProbe(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	mode := "fail"
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		m := mode
		mu.Unlock()
		if m == "fail" {
			writeJSON(w, 500, ``)
			return
		}
		<-release
		fake.okSession(w)
	})
	clock := newTestClock()
	c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) {
		c.Now, c.MaxAttempts, c.BreakerThreshold, c.BreakerCooldown = clock.Now, 1, 2, time.Minute
	})
	for range 2 {
		c.CreateHostedSession(context.Background(), validRequest(t))
	}
	if c.BreakerState() != stablemint.BreakerOpen {
		t.Fatalf("breaker = %s, want open after the configured 2 failures", c.BreakerState())
	}
	clock.Advance(time.Minute)
	mu.Lock()
	mode = "hang"
	mu.Unlock()

	probeDone := make(chan error)
	go func() { _, err := c.CreateHostedSession(context.Background(), validRequest(t)); probeDone <- err }()
	testkit.WaitFor(t, "three requests", func() bool { return len(fake.Requests()) == 3 })
	if _, err := c.CreateHostedSession(context.Background(), validRequest(t)); !errors.Is(err, stablemint.ErrCircuitOpen) {
		t.Errorf("second call during the probe: error = %v, want ErrCircuitOpen", err)
	}
	close(release)
	if err := <-probeDone; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.BreakerState() != stablemint.BreakerClosed {
		t.Errorf("breaker = %s after the probe succeeded, want closed", c.BreakerState())
	}
}

func TestCircuitBreakerIgnoresRefusalsAndCancellations(t *testing.T) {
	var mu sync.Mutex
	status := 500
	fake := newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, status, ``)
	})
	c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) { c.MaxAttempts = 1 })
	for range 4 {
		c.CreateHostedSession(context.Background(), validRequest(t))
	}
	mu.Lock()
	status = 400
	mu.Unlock()
	c.CreateHostedSession(context.Background(), validRequest(t)) // a final answer: StableMint is up
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 6 {
		if _, err := c.CreateHostedSession(ctx, validRequest(t)); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: error = %v, want context.Canceled", err)
		}
	}
	mu.Lock()
	status = 500
	mu.Unlock()
	for range 4 {
		c.CreateHostedSession(context.Background(), validRequest(t))
	}
	if got := c.BreakerState(); got != stablemint.BreakerClosed {
		t.Errorf("breaker = %s; want closed: the 400 reset the count and cancellations do not count", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := func() stablemint.Config {
		return stablemint.Config{BaseURL: "https://paymentinitiationservice-rest.stablemint.io", APIKey: "k",
			APISecret: "s", PrivateKey: testKey(t, partnerKeyFile)}
	}
	if _, err := stablemint.New(good()); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*stablemint.Config)
		field string
	}{
		{"no base url", func(c *stablemint.Config) { c.BaseURL = "" }, "BaseURL"},
		{"plain http base", func(c *stablemint.Config) { c.BaseURL = "http://stablemint.example" }, "BaseURL"},
		{"base with query", func(c *stablemint.Config) { c.BaseURL = "https://x.example/?a=1" }, "BaseURL"},
		{"no api key", func(c *stablemint.Config) { c.APIKey = "" }, "APIKey"},
		{"api key with newline", func(c *stablemint.Config) { c.APIKey = "k\r\nX: y" }, "APIKey"},
		{"no secret", func(c *stablemint.Config) { c.APISecret = "" }, "APISecret"},
		{"no private key", func(c *stablemint.Config) { c.PrivateKey = nil }, "PrivateKey"},
		{"weak private key", func(c *stablemint.Config) { c.PrivateKey = weakKey(t) }, "PrivateKey"},
		{"unknown scheme", func(c *stablemint.Config) { c.Scheme = "v3" }, "Scheme"},
		{"checkout host with scheme", func(c *stablemint.Config) { c.CheckoutHosts = []string{"https://pay.example"} }, "CheckoutHosts"},
		{"checkout host with path", func(c *stablemint.Config) { c.CheckoutHosts = []string{"pay.example/x"} }, "CheckoutHosts"},
		{"checkout wildcard over a top-level domain", func(c *stablemint.Config) { c.CheckoutHosts = []string{"*.io"} }, "CheckoutHosts"},
		{"checkout wildcard with a port", func(c *stablemint.Config) { c.CheckoutHosts = []string{"*.pay.example:443"} }, "CheckoutHosts"},
		{"unknown customFields format", func(c *stablemint.Config) { c.CustomFieldsAs = "array" }, "CustomFieldsAs"},
		{"min above max", func(c *stablemint.Config) { c.MinAmount, c.MaxAmount = mustDecimal(t, "20"), mustDecimal(t, "10") }, "MinAmount"},
		{"too many attempts", func(c *stablemint.Config) { c.MaxAttempts = 11 }, "MaxAttempts"},
		{"negative timeout", func(c *stablemint.Config) { c.CallTimeout = -time.Second }, "CallTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.edit(&cfg)
			_, err := stablemint.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("New() error = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

// A zero MinAmount or MaxAmount is no bound on that side: StableMint's only
// documented limits are its sandbox's, so none is assumed (issue #16).
func TestConfigAmountLimits(t *testing.T) {
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) { fake.okSession(w) })
	tests := []struct {
		name     string
		min, max string // "" = unset
		accepted []string
		refused  []string
	}{
		{"none", "", "", []string{"0.01", "1,250.00", "92,233,720,368,547,758.07"}, nil},
		{"minimum only", "1", "", []string{"1.00", "1,250.00"}, []string{"0.99"}},
		{"maximum only", "", "5000", []string{"0.01", "1,250.00", "5,000.00"}, []string{"5,000.01"}},
		{"both", "0.1", "10", []string{"0.10", "10.00"}, []string{"0.09", "10.01", "1,250.00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) {
				if tt.min != "" {
					c.MinAmount = mustDecimal(t, tt.min)
				}
				if tt.max != "" {
					c.MaxAmount = mustDecimal(t, tt.max)
				}
			})
			if l := c.Limits(); l.Min.String() != orZero(tt.min) || l.Max.String() != orZero(tt.max) {
				t.Errorf("Limits() = %s..%s, want %s..%s", l.Min, l.Max, orZero(tt.min), orZero(tt.max))
			}
			for _, amounts := range [][]string{tt.accepted, tt.refused} {
				for _, s := range amounts {
					req := validRequest(t)
					req.Amount = mustAmount(t, s, "EUR")
					_, err := c.CreateHostedSession(context.Background(), req)
					var verr stablemint.ValidationErrors
					if wantOK := slices.Contains(tt.accepted, s); (err == nil) != wantOK || (err != nil && !errors.As(err, &verr)) {
						t.Errorf("%s EUR: %v, want accepted %v", s, err, wantOK)
					}
				}
			}
		})
	}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func weakKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	// ParseRSAPrivateKeyPEM refuses it, so build it from the raw PEM.
	k, err := parsePKCS1File(t, weakKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestClientDefaults(t *testing.T) {
	c, err := stablemint.New(stablemint.Config{BaseURL: "https://paymentinitiationservice-rest.stablemint.io/", APIKey: "k",
		APISecret: "s", PrivateKey: testKey(t, partnerKeyFile)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(c.CheckoutHosts()), "[*.stablemint.io *.stablemint.net paymentinitiationservice-rest.stablemint.io]"; got != want {
		t.Errorf("CheckoutHosts = %s, want %s", got, want)
	}
	if l := c.Limits(); !l.Min.IsZero() || !l.Max.IsZero() {
		t.Errorf("Limits = %s..%s, want none", l.Min, l.Max)
	}
	if c.BreakerState() != stablemint.BreakerClosed {
		t.Errorf("BreakerState = %s, want closed", c.BreakerState())
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := stablemint.Config{BaseURL: "https://x.example", APIKey: "the-api-key", APISecret: "the-api-secret",
		PrivateKey: testKey(t, partnerKeyFile)}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg)
	out := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg) + logs.String()
	for _, secret := range []string{"the-api-key", "the-api-secret", cfg.PrivateKey.D.String()[:20]} {
		if strings.Contains(out, secret) {
			t.Errorf("formatted config contains a secret: %s", out)
		}
	}
}

func TestClientLogsNoSecretsOrPersonalData(t *testing.T) {
	var fake *fakeStableMint
	fake = newFakeStableMint(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			writeJSON(w, 500, `boom`)
			return
		}
		fake.okSession(w)
	})
	var logs bytes.Buffer
	c, _ := newTestClient(t, fake.URL, func(c *stablemint.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if _, err := c.CreateHostedSession(context.Background(), validRequest(t)); err != nil {
		t.Fatal(err)
	}
	sig := fake.Requests()[0].Header.Get("signature")
	for _, s := range []string{goldenSecret, "ana@example.com", "user-42", sig[:16], "key-1"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs contain %q:\n%s", s, logs.String())
		}
	}
	if !strings.Contains(logs.String(), validRequest(t).IdempotencyKey) {
		t.Errorf("logs lack the idempotency key:\n%s", logs.String())
	}
}
