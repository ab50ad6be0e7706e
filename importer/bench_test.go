package importer_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"runtime"
	"testing"

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

// heapGrowth reports the live heap f leaves behind (its result kept), in
// MiB: what an upload costs the process while its check is on screen.
func heapGrowth(b *testing.B, f func() any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "live-MiB")
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
