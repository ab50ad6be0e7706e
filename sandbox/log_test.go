package sandbox_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/sandbox"
)

// attrRecorder is a slog.Handler that keeps every record with all its
// attributes, those added by With included, in order.
type attrRecorder struct {
	mu      *sync.Mutex
	records *[][]slog.Attr
	with    []slog.Attr
}

func newAttrRecorder() *attrRecorder {
	return &attrRecorder{mu: &sync.Mutex{}, records: new([][]slog.Attr)}
}

func (h *attrRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *attrRecorder) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), h.with...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	h.mu.Lock()
	*h.records = append(*h.records, attrs)
	h.mu.Unlock()
	return nil
}

func (h *attrRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.with = append(append([]slog.Attr(nil), h.with...), as...)
	return &c
}

func (h *attrRecorder) WithGroup(string) slog.Handler { return h }

func (h *attrRecorder) all() [][]slog.Attr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]slog.Attr(nil), *h.records...)
}

// The sandbox names its component itself, and callers (cmd/paylinks) pass
// a logger without one: each record carries "component" exactly once, and
// the caller's own attributes are kept.
func TestLogRecordsNameTheComponentOnce(t *testing.T) {
	rec := newAttrRecorder()
	s := newSandbox(t, func(c *sandbox.Config) { c.Logger = slog.New(rec).With("run", "r1") })
	newReceiver(t, s, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError // a warning too
		}
		return http.StatusOK
	})
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "every event acknowledged", func() bool {
		n := 0
		for _, d := range s.Deliveries() {
			if d.Acknowledged {
				n++
			}
		}
		return n == 5
	})
	records := rec.all()
	if len(records) < 8 { // listening, session, outcome, 6 attempts
		t.Fatalf("got %d log records, want at least 8", len(records))
	}
	for i, attrs := range records {
		var values, runs []string
		for _, a := range attrs {
			switch a.Key {
			case "component":
				values = append(values, a.Value.String())
			case "run":
				runs = append(runs, a.Value.String())
			}
		}
		if len(values) != 1 || values[0] != sandbox.LogComponent || len(runs) != 1 {
			t.Errorf("record %d: component %v, run %v; want exactly [%s] and the caller's [r1]: %v",
				i, values, runs, sandbox.LogComponent, attrs)
		}
	}
}
