package importer_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/importer"
	"github.com/paylinks/paylinks/stablemint"
)

// benchRows is a month-end file of n good rows in the template's columns.
func benchRows(n int) [][]string {
	rows := [][]string{importer.TemplateFields()}
	for i := range n {
		rows = append(rows, []string{fmt.Sprintf("CUST-%05d", i), fmt.Sprintf("c%d@example.com", i), "DE", "EUR",
			fmt.Sprintf("%d.%02d", 10+i%900, i%100), fmt.Sprintf("INV-2026-%05d", i), "November", "Ada Lovelace",
			"", "", "", "", "", "+44 20 7946 0958", "", "yes"})
	}
	return rows
}

func benchCSV(b *testing.B, n int) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(benchRows(n)); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func benchXLSX(b *testing.B, n int) []byte {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	for i, r := range benchRows(n) {
		row := make([]any, len(r))
		for j, v := range r {
			row[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, row); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

var benchDefaults = map[string]string{"successUrl": "https://shop.example/ok", "supportUrl": "https://shop.example/help",
	"exitUrl": "https://shop.example/exit", "errorUrl": "https://shop.example/error"}

var benchLimits = func(string) stablemint.Limits {
	min, _ := stablemint.ParseDecimal("1")
	max, _ := stablemint.ParseDecimal("100000")
	return stablemint.Limits{Min: min, Max: max}
}

// heapGrowth runs f once more, after the timed runs, and reports two
// figures in MiB: peak-heap-growth-MiB, the most the heap's live objects
// grew over their level before f while it ran (sampled every
// millisecond, as BenchmarkExportCSV in handlers does: what an upload
// adds to the process at worst), and live-MiB, the heap f leaves behind
// with its result kept (what the check costs while it is on screen).
func heapGrowth(b *testing.B, f func() any) {
	const objects = "/memory/classes/heap/objects:bytes"
	read := func() uint64 {
		s := []metrics.Sample{{Name: objects}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	var peak atomic.Uint64
	peak.Store(base)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	keep := f()
	close(done)
	<-stopped
	if v := read(); v > peak.Load() {
		peak.Store(v)
	}
	runtime.GC()
	after := read()
	runtime.KeepAlive(keep)
	b.ReportMetric(float64(peak.Load()-base)/(1<<20), "peak-heap-growth-MiB")
	b.ReportMetric((float64(after)-float64(base))/(1<<20), "live-MiB")
}

// BenchmarkParseCheck10000CSV is the import's cost for a full file: parse
// and check every row with the form's rules.
func BenchmarkParseCheck10000CSV(b *testing.B) {
	data := benchCSV(b, importer.MaxRows)
	run := func() any {
		t, err := importer.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		res := importer.Check(t, importer.AutoMap(t.Headers), importer.Options{Limits: benchLimits, Defaults: benchDefaults})
		if res.Bad != 0 {
			b.Fatalf("%d bad rows: %v", res.Bad, res.Rows[0].Errors)
		}
		return res
	}
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	heapGrowth(b, run)
}

// BenchmarkBaselineEncodingCSV10000 is the same file read by encoding/csv
// alone: the floor under BenchmarkParseCheck10000CSV.
func BenchmarkBaselineEncodingCSV10000(b *testing.B) {
	data := benchCSV(b, importer.MaxRows)
	run := func() any {
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			b.Fatal(err)
		}
		return recs
	}
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	heapGrowth(b, run)
}

func BenchmarkParseCheck10000XLSX(b *testing.B) {
	data := benchXLSX(b, importer.MaxRows)
	run := func() any {
		t, err := importer.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		return importer.Check(t, importer.AutoMap(t.Headers), importer.Options{Limits: benchLimits, Defaults: benchDefaults})
	}
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	heapGrowth(b, run)
}

// BenchmarkBaselineExcelize10000 reads the same workbook's rows with
// excelize alone.
func BenchmarkBaselineExcelize10000(b *testing.B) {
	data := benchXLSX(b, importer.MaxRows)
	run := func() any {
		f, err := excelize.OpenReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rows, err := f.GetRows("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		return rows
	}
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	heapGrowth(b, run)
}
