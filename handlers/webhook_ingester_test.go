package handlers_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
)

// gatedStore is a fake ingest store: each call waits for the gate, records
// its batch and fails it when it holds a delivery keyed "bad".
type gatedStore struct {
	gate    chan struct{}
	mu      sync.Mutex
	batches [][]string
}

func (s *gatedStore) IngestWebhooks(_ context.Context, ds []db.WebhookDelivery) ([]db.WebhookResult, error) {
	<-s.gate
	keys := make([]string, len(ds))
	for i, d := range ds {
		keys[i] = d.Event.Key
	}
	s.mu.Lock()
	s.batches = append(s.batches, keys)
	s.mu.Unlock()
	if slices.Contains(keys, "bad") {
		return nil, errors.New("constraint failed")
	}
	out := make([]db.WebhookResult, len(ds))
	for i, k := range keys {
		out[i] = db.WebhookResult{Outcome: k}
	}
	return out, nil
}

func (s *gatedStore) seen() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// parkedSubmits counts goroutines blocked inside WebhookIngester.Submit.
func parkedSubmits() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "(*WebhookIngester).Submit") {
			n++
		}
	}
	return n
}

type submitted struct {
	key string
	res db.WebhookResult
	err error
}

// submitAll submits one delivery per key, each from its own goroutine, and
// returns once all of them are blocked in Submit.
func submitAll(t *testing.T, ing *handlers.WebhookIngester, keys []string) <-chan submitted {
	t.Helper()
	out := make(chan submitted, len(keys))
	before := parkedSubmits()
	for _, k := range keys {
		go func() {
			r, err := ing.Submit(context.Background(), db.WebhookDelivery{Event: db.WebhookEventData{Key: k}})
			out <- submitted{k, r, err}
		}()
	}
	waitFor(t, "the submitters to queue", func() bool { return parkedSubmits() >= before+len(keys) })
	return out
}

func TestIngesterCommitsWaitingDeliveriesTogether(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{})}
	ing := handlers.NewWebhookIngester(st, nil, handlers.IngesterOptions{MaxBatch: 4})
	defer ing.Close()
	first := submitAll(t, ing, []string{"a"}) // taken at once; its commit waits at the gate
	rest := submitAll(t, ing, []string{"b", "c", "d", "e", "f", "g"})
	close(st.gate)
	if r := <-first; r.err != nil || r.res.Outcome != r.key {
		t.Fatalf("%+v", r)
	}
	for range 6 {
		if r := <-rest; r.err != nil || r.res.Outcome != r.key {
			t.Fatalf("%+v: a caller got another delivery's result or an error", r)
		}
	}
	sizes := []int{}
	for _, b := range st.seen() {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{1, 4, 2}) {
		t.Fatalf("batch sizes %v, want [1 4 2]: the six waiting deliveries in batches of at most 4", sizes)
	}
}

func TestIngesterRetriesAFailedBatchOneByOne(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{})}
	ing := handlers.NewWebhookIngester(st, nil, handlers.IngesterOptions{})
	defer ing.Close()
	first := submitAll(t, ing, []string{"x"})
	rest := submitAll(t, ing, []string{"ok1", "bad", "ok2"})
	close(st.gate)
	<-first
	for range 3 {
		r := <-rest
		if (r.err != nil) != (r.key == "bad") {
			t.Fatalf("%s: err %v; only the bad delivery may fail", r.key, r.err)
		}
		if r.err == nil && r.res.Outcome != r.key {
			t.Fatalf("%s got %+v", r.key, r.res)
		}
	}
	b := st.seen()
	if len(b) != 5 || len(b[1]) != 3 || len(b[2]) != 1 || len(b[3]) != 1 || len(b[4]) != 1 {
		t.Fatalf("batches %v, want [x], the failed batch of 3, then each alone", b)
	}
}

func TestIngesterClosesCleanly(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{})}
	ing := handlers.NewWebhookIngester(st, nil, handlers.IngesterOptions{})
	inFlight := submitAll(t, ing, []string{"last"})
	closed := make(chan struct{})
	go func() { ing.Close(); close(closed) }()
	close(st.gate) // the batch under way still commits and is answered
	if r := <-inFlight; r.err != nil {
		t.Fatalf("in-flight delivery: %v", r.err)
	}
	<-closed
	ing.Close() // idempotent
	if _, err := ing.Submit(context.Background(), db.WebhookDelivery{}); !errors.Is(err, handlers.ErrIngesterClosed) {
		t.Fatalf("after Close: %v, want ErrIngesterClosed", err)
	}
}
