package sandbox_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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
