package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkExportXLSX builds the workbook of every link of the seeded
// database through the real export handler; BenchmarkExportCSVRows
// streams the CSV and counts the rows that arrive (BenchmarkExportCSV's
// rows/s assumes every link arrived). Both report the status, rows per
// second and the peak growth of the live heap while the export runs.
func BenchmarkExportXLSX(b *testing.B)    { benchExport(b, "/links/export.xlsx") }
func BenchmarkExportCSVRows(b *testing.B) { benchExport(b, "/links/export.csv") }

func benchExport(b *testing.B, path string) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	total, _ := st.CountLinks(context.Background())
	heap := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	for b.Loop() {
		runtime.GC()
		base := heap()
		var peak uint64
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					h := heap()
					mu.Lock()
					peak = max(peak, h)
					mu.Unlock()
				}
			}
		}()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range app.cookie {
			req.AddCookie(c)
		}
		w := &lineCountingWriter{h: http.Header{}, status: http.StatusOK}
		start := time.Now()
		app.e.ServeHTTP(w, req)
		elapsed := time.Since(start)
		close(done)
		mu.Lock()
		growth := float64(peak-min(peak, base)) / (1 << 20)
		mu.Unlock()
		rows := float64(total)
		if path == "/links/export.csv" {
			rows = float64(w.lines - 1) // the header
		}
		if w.status != http.StatusOK {
			rows = 0
		}
		b.ReportMetric(float64(w.status), "status")
		b.ReportMetric(rows, "rows")
		b.ReportMetric(rows/elapsed.Seconds(), "rows/s")
		b.ReportMetric(growth, "peak-heap-growth-MiB")
		b.ReportMetric(elapsed.Seconds(), "export-s")
		b.ReportMetric(float64(w.n)/(1<<20), "MiB-out")
	}
}

// lineCountingWriter is an http.ResponseWriter that counts bytes and
// newlines and drops the body.
type lineCountingWriter struct {
	h      http.Header
	n      int64
	lines  int64
	status int
}

func (w *lineCountingWriter) Header() http.Header { return w.h }
func (w *lineCountingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}
func (w *lineCountingWriter) WriteHeader(code int) { w.status = code }
