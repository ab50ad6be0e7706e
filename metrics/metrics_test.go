package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/paylinks/paylinks/stablemint"
)

type fakeSessions struct{ err error }

func (f fakeSessions) CreateHostedSession(context.Context, stablemint.Request) (stablemint.Session, error) {
	return stablemint.Session{}, f.err
}
func (f fakeSessions) Limits() stablemint.Limits { return stablemint.Limits{} }

func TestMeteredClientCountsErrorsByKind(t *testing.T) {
	m := New(nil)
	c := m.InstrumentClient(fakeSessions{err: stablemint.ErrCircuitOpen})
	if m.InstrumentClient(c) != c {
		t.Error("wrapped twice")
	}
	for range 2 {
		if _, err := c.CreateHostedSession(context.Background(), stablemint.Request{}); !errors.Is(err, stablemint.ErrCircuitOpen) {
			t.Fatalf("error not passed through: %v", err)
		}
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				got[f.GetName()+"/"+l.GetValue()] += s.GetCounter().GetValue() + float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	if got["paylinks_stablemint_call_errors_total/circuit-open"] != 2 || got["paylinks_stablemint_call_duration_seconds/unavailable"] != 2 {
		t.Fatalf("series %v", got)
	}
	var nilMetrics *Metrics // a nil *Metrics records nothing and never panics
	nilMetrics.WebhookDelivery("accepted")
	nilMetrics.EmailOutcome("sent")
	nilMetrics.LinkCreation("ok")
	nilMetrics.OutboxDepth(func(context.Context) (int, error) { return 1, nil })
}
