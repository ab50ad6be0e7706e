package links_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConfirmImport10000WriterWait confirms a 10,000-row file while
// another writer (one timeline line at a time, as a webhook's commit is
// one short write) writes without pause, and reports the longest that
// writer waited for one write: how long the confirmation kept the only
// writer from others. A measurement, not a check.
func BenchmarkConfirmImport10000WriterWait(b *testing.B) {
	m := newMinting(b)
	ctx := context.Background()
	probe := importBatch(b, m, 1, "probe")
	rows, err := m.st.ImportRows(ctx, probe)
	if err != nil {
		b.Fatal(err)
	}
	var longest time.Duration
	n := 0
	for b.Loop() {
		var stop atomic.Bool
		var wg sync.WaitGroup
		var worst time.Duration
		wg.Go(func() {
			for !stop.Load() {
				start := time.Now()
				if err := m.st.AddLinkEvent(ctx, rows[0].LinkID, "note", 0, "probe"); err != nil {
					b.Error(err)
					return
				}
				worst = max(worst, time.Since(start))
			}
		})
		importBatch(b, m, 10000, fmt.Sprintf("w%d", n))
		stop.Store(true)
		wg.Wait()
		longest = max(longest, worst)
		n++
	}
	b.ReportMetric(float64(longest.Milliseconds()), "max-writer-wait-ms")
}
