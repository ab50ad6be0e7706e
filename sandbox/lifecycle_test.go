package sandbox_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/sandbox"
)

// sandboxGoroutines returns the stacks of goroutines running sandbox code.
func sandboxGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "paylinks/sandbox.(*Server)") {
			out = append(out, g)
		}
	}
	return out
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	baseline := runtime.NumGoroutine()

	// A receiver that always fails (retries pending on timers) and one that
	// hangs until the request is cancelled (a delivery in flight).
	hung := make(chan struct{}, 1)
	release := make(chan struct{})
	var failing, hanging *httptest.Server
	failing = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	hanging = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client going away
		select {
		case hung <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))

	s, err := sandbox.New(sandbox.Config{
		Addr: "127.0.0.1:0", APIKey: testAPIKey, APISecret: testAPISecret,
		PartnerPublicKey: &partnerKey().PublicKey, PrivateKey: webhookKey(),
		TimeScale:  1, // first retry in 5 real minutes
		WebhookURL: failing.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	a, b := createValid(t, s), createValid(t, s)
	if err := s.Outcome(a.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "five failed attempts", func() bool { return len(s.Deliveries()) == 5 })
	s.SetWebhookURL(hanging.URL)
	if err := s.Outcome(b.Reference, "fail"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hung:
	case <-time.After(10 * time.Second):
		t.Fatal("hanging receiver never called")
	}
	if len(sandboxGoroutines()) == 0 {
		t.Fatal("no sandbox goroutines while serving: the check below would prove nothing")
	}

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a delivery in flight")
	}
	if g := sandboxGoroutines(); len(g) != 0 {
		t.Errorf("%d sandbox goroutines left after Close:\n%s", len(g), strings.Join(g, "\n\n"))
	}
	close(release)
	failing.Close()
	hanging.Close()
	http.DefaultClient.CloseIdleConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The in-flight attempt was recorded as cut off, with no retry.
	d := s.Deliveries()
	last := d[len(d)-1]
	if last.Acknowledged || !last.NextRetryAt.IsZero() {
		t.Errorf("attempt cut off by Close: %+v", last)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMainServesUntilCancelled(t *testing.T) {
	partnerPEM := writePEM(t, "partner.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&partnerKey().PublicKey))
	der, err := x509.MarshalPKCS8PrivateKey(webhookKey())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := writePEM(t, "sandbox.pem", "PRIVATE KEY", der)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Main(ctx, []string{
			"--addr", "127.0.0.1:0", "--api-key", testAPIKey, "--api-secret", testAPISecret,
			"--partner-public-key", partnerPEM, "--key", keyPEM, "--scheme", "v2",
			"--family", "partner", "--time-scale", "0.001", "--session-ttl", "2h",
		}, &stdout, &stderr)
	}()
	listenRE := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	testkit.WaitFor(t, "the start banner", func() bool { return listenRE.MatchString(stdout.String()) })
	base := listenRE.FindStringSubmatch(stdout.String())[1]
	if !strings.Contains(stdout.String(), base+"/_sandbox/public-key.pem") {
		t.Errorf("banner does not name the public key URL:\n%s", stdout.String())
	}

	resp, err := http.Get(base + "/_sandbox/public-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pubDER, _ := x509.MarshalPKIXPublicKey(&webhookKey().PublicKey)
	if want := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}); !bytes.Equal(got, want) {
		t.Errorf("served public key is not the --key file's")
	}

	body := mustJSON(t, validRequest())
	status, b := postCreate(t, base, signedHeaders("v2", time.Now(), body), body)
	var cr createResponse
	json.Unmarshal(b, &cr)
	if status != 200 || !strings.HasPrefix(cr.URL, base+"/checkout/") {
		t.Errorf("v2 create: got %d %s", status, b)
	}
	if exp := time.Now().Add(2 * time.Hour).Unix(); cr.ExpiresAt < exp-5 || cr.ExpiresAt > exp+5 {
		t.Errorf("expiresAt %d, want about %d (--session-ttl 2h)", cr.ExpiresAt, exp)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Main: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	partnerPEM := writePEM(t, "partner.pem", "PUBLIC KEY", func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(&partnerKey().PublicKey)
		return der
	}())
	base := []string{"--addr", "127.0.0.1:0", "--api-key", "k", "--api-secret", "s", "--partner-public-key", partnerPEM}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--colour", "red"}, "colour"},
		{"bad scheme", []string{"--scheme", "v3"}, "--scheme"},
		{"bad family", []string{"--family", "modern"}, "--family"},
		{"time scale not a number", []string{"--time-scale", "fast"}, "time-scale"},
		{"time scale zero", []string{"--time-scale", "0"}, "--time-scale"},
		{"session ttl not a duration", []string{"--session-ttl", "1 day"}, "session-ttl"},
		{"webhook url relative", []string{"--webhook-url", "/hooks"}, "--webhook-url"},
		{"public url relative", []string{"--public-url", "pay.example"}, "--public-url"},
		{"missing partner key file", []string{"--partner-public-key", filepath.Join(t.TempDir(), "none.pem")}, "--partner-public-key"},
		{"key file not PEM", []string{"--key", partnerPEM}, "--key"},
		{"positional argument", []string{"extra"}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := sandbox.Main(context.Background(), append(append([]string{}, base...), tt.args...), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Main = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	t.Run("required flags", func(t *testing.T) {
		err := sandbox.Main(context.Background(), nil, io.Discard, io.Discard)
		for _, f := range []string{"--api-key", "--api-secret", "--partner-public-key"} {
			if err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("Main without flags = %v, want it to name %s", err, f)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		var errOut bytes.Buffer
		if err := sandbox.Main(context.Background(), []string{"-h"}, io.Discard, &errOut); err != nil {
			t.Errorf("-h: %v", err)
		}
		if !strings.Contains(errOut.String(), "--partner-public-key") && !strings.Contains(errOut.String(), "-partner-public-key") {
			t.Errorf("usage does not list flags:\n%s", errOut.String())
		}
	})
}
