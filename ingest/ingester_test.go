package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/paylink"
)

// gatedStore is a fake ingest store: each commit waits for the gate, and
// records its batch; a delivery keyed "bad" fails when it is applied, and
// the batch it was in is recorded as rolled back.
type gatedStore struct {
	gate       chan struct{}
	mu         sync.Mutex
	batches    [][]string // committed
	rolledBack [][]string
	applied    int // deliveries applied, committed or not
}

func (s *gatedStore) BeginWebhooks(context.Context) (db.WebhookTx, error) {
	return &gatedTx{s: s}, nil
}

type gatedTx struct {
	s    *gatedStore
	keys []string
	done bool
}

func (t *gatedTx) Ingest(d db.WebhookDelivery) (db.WebhookResult, error) {
	t.s.mu.Lock()
	t.s.applied++
	t.s.mu.Unlock()
	t.keys = append(t.keys, d.Event.Key)
	if d.Event.Key == "bad" {
		return db.WebhookResult{}, errors.New("constraint failed")
	}
	return db.WebhookResult{Outcome: paylink.Outcome(d.Event.Key)}, nil
}

func (t *gatedTx) Commit() error {
	<-t.s.gate
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.done = true
	t.s.batches = append(t.s.batches, t.keys)
	return nil
}

func (t *gatedTx) Rollback() error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if !t.done {
		t.done = true
		t.s.rolledBack = append(t.s.rolledBack, t.keys)
	}
	return nil
}

// waitApplied waits until the ingester has applied n deliveries: a
// delivery parked in a submit may not have reached the writer yet.
func (s *gatedStore) waitApplied(t *testing.T, n int) {
	t.Helper()
	testkit.WaitFor(t, "the ingester to apply the deliveries", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.applied >= n
	})
}

func (s *gatedStore) seen() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// parkedSubmits counts goroutines blocked inside a submit to the ingester.
func parkedSubmits() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "ingest.(*Ingester).submit") {
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
func submitAll(t *testing.T, ing *ingest.Ingester, keys []string) <-chan submitted {
	t.Helper()
	out := make(chan submitted, len(keys))
	before := parkedSubmits()
	for _, k := range keys {
		go func() {
			r, err := ing.Expect().Submit(context.Background(), db.WebhookDelivery{Event: db.WebhookEventData{Key: k}})
			out <- submitted{k, r, err}
		}()
	}
	testkit.WaitFor(t, "the submitters to queue", func() bool { return parkedSubmits() >= before+len(keys) })
	return out
}

func TestIngesterCommitsWaitingDeliveriesTogether(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{})}
	ing := ingest.New(st, nil, ingest.Options{MaxBatch: 4})
	defer ing.Close()
	first := submitAll(t, ing, []string{"a"}) // taken at once; its commit waits at the gate
	st.waitApplied(t, 1)
	rest := submitAll(t, ing, []string{"b", "c", "d", "e", "f", "g"})
	close(st.gate)
	if r := <-first; r.err != nil || string(r.res.Outcome) != r.key {
		t.Fatalf("%+v", r)
	}
	for range 6 {
		if r := <-rest; r.err != nil || string(r.res.Outcome) != r.key {
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
	ing := ingest.New(st, nil, ingest.Options{})
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
		if r.err == nil && string(r.res.Outcome) != r.key {
			t.Fatalf("%s got %+v", r.key, r.res)
		}
	}
	// Each good delivery committed exactly once; the bad one never, and it
	// was tried alone before its caller got the error.
	var committed []string
	for _, b := range st.seen() {
		committed = append(committed, b...)
	}
	slices.Sort(committed)
	if !slices.Equal(committed, []string{"ok1", "ok2", "x"}) {
		t.Fatalf("committed %v, want each good delivery once", committed)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.ContainsFunc(st.rolledBack, func(b []string) bool { return slices.Equal(b, []string{"bad"}) }) {
		t.Fatalf("rolled back %v: the bad delivery was never tried alone", st.rolledBack)
	}
}

func TestIngesterClosesCleanly(t *testing.T) {
	st := &gatedStore{gate: make(chan struct{})}
	ing := ingest.New(st, nil, ingest.Options{})
	inFlight := submitAll(t, ing, []string{"last"})
	st.waitApplied(t, 1) // the batch is under way
	closed := make(chan struct{})
	go func() { ing.Close(); close(closed) }()
	close(st.gate) // the batch under way still commits and is answered
	if r := <-inFlight; r.err != nil {
		t.Fatalf("in-flight delivery: %v", r.err)
	}
	<-closed
	ing.Close() // idempotent
	if _, err := ing.Expect().Submit(context.Background(), db.WebhookDelivery{}); !errors.Is(err, ingest.ErrIngesterClosed) {
		t.Fatalf("after Close: %v, want ErrIngesterClosed", err)
	}
}

// openGate is a gatedStore whose commits never wait.
func openGate() *gatedStore {
	st := &gatedStore{gate: make(chan struct{})}
	close(st.gate)
	return st
}

// batchWaiting reports whether the ingester's loop is waiting, inside a
// batch, for a delivery announced but not yet submitted.
func batchWaiting() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "ingest.(*Ingester).batch") {
			return true
		}
	}
	return false
}

func TestIngesterWaitsForAnnouncedDeliveries(t *testing.T) {
	st := openGate()
	ing := ingest.New(st, nil, ingest.Options{Linger: time.Hour})
	defer ing.Close()
	second := ing.Expect() // received, still being verified
	first := submitAll(t, ing, []string{"first"})
	testkit.WaitFor(t, "the batch to wait for the announced delivery", batchWaiting)
	if _, err := second.Submit(context.Background(), db.WebhookDelivery{Event: db.WebhookEventData{Key: "second"}}); err != nil {
		t.Fatal(err)
	}
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	if b := st.seen(); fmt.Sprint(b) != "[[first second]]" {
		t.Fatalf("batches %v, want one commit holding both", b)
	}
}

func TestIngesterStopsWaitingForAnAbandonedDelivery(t *testing.T) {
	st := openGate()
	ing := ingest.New(st, nil, ingest.Options{Linger: time.Hour})
	defer ing.Close()
	gone := ing.Expect()
	first := submitAll(t, ing, []string{"first"})
	testkit.WaitFor(t, "the batch to wait for the announced delivery", batchWaiting)
	gone.Abandon() // e.g. the request ended before it was submitted
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	// With nobody on the way, a delivery commits at once.
	if _, err := ing.Expect().Submit(context.Background(), db.WebhookDelivery{Event: db.WebhookEventData{Key: "next"}}); err != nil {
		t.Fatal(err)
	}
	if b := st.seen(); fmt.Sprint(b) != "[[first] [next]]" {
		t.Fatalf("batches %v", b)
	}
}

func TestIngesterCloseEndsAWaitForAnnouncedDeliveries(t *testing.T) {
	st := openGate()
	ing := ingest.New(st, nil, ingest.Options{Linger: time.Hour})
	never := ing.Expect() // a request that never gets as far as submitting
	defer never.Abandon()
	first := submitAll(t, ing, []string{"first"})
	testkit.WaitFor(t, "the batch to wait for the announced delivery", batchWaiting)
	ing.Close() // must not wait out the Linger
	if r := <-first; r.err != nil {
		t.Fatalf("the delivery the closing batch held: %v", r.err)
	}
	if b := st.seen(); fmt.Sprint(b) != "[[first]]" {
		t.Fatalf("batches %v", b)
	}
}

// A saturated writer answers busy rather than holding deliveries until
// their requests time out: a delivery not taken within MaxWait, or one
// that finds MaxWaiting others waiting, gets ErrIngesterBusy and nothing
// of it is stored; those already waiting still commit.
func TestIngesterBusyWhenTheWriterIsSaturated(t *testing.T) {
	t.Run("not taken in time", func(t *testing.T) {
		st := &gatedStore{gate: make(chan struct{})}
		ing := ingest.New(st, nil, ingest.Options{MaxBatch: 1, MaxWait: 20 * time.Millisecond})
		defer ing.Close()
		first := submitAll(t, ing, []string{"a"})
		st.waitApplied(t, 1) // its commit holds the writer
		_, err := ing.Expect().Submit(context.Background(), db.WebhookDelivery{Event: db.WebhookEventData{Key: "b"}})
		if !errors.Is(err, ingest.ErrIngesterBusy) {
			t.Fatalf("got %v, want ErrIngesterBusy", err)
		}
		close(st.gate)
		if r := <-first; r.err != nil {
			t.Fatal(r.err)
		}
		if got := st.seen(); len(got) != 1 || !slices.Equal(got[0], []string{"a"}) {
			t.Errorf("committed %v, want only [a]: a busy delivery must not be stored", got)
		}
	})
	t.Run("too many waiting", func(t *testing.T) {
		st := &gatedStore{gate: make(chan struct{})}
		ing := ingest.New(st, nil, ingest.Options{MaxBatch: 1, MaxWaiting: 1, MaxWait: time.Hour})
		defer ing.Close()
		first := submitAll(t, ing, []string{"a"})
		st.waitApplied(t, 1)
		second := submitAll(t, ing, []string{"b"}) // waits its turn
		_, err := ing.Expect().Submit(context.Background(), db.WebhookDelivery{Event: db.WebhookEventData{Key: "c"}})
		if !errors.Is(err, ingest.ErrIngesterBusy) {
			t.Fatalf("got %v, want ErrIngesterBusy", err)
		}
		close(st.gate)
		for _, ch := range []<-chan submitted{first, second} {
			if r := <-ch; r.err != nil {
				t.Fatalf("%s: %v", r.key, r.err)
			}
		}
		if got := st.seen(); len(got) != 2 {
			t.Errorf("committed %v, want [a] and [b]", got)
		}
	})
}
