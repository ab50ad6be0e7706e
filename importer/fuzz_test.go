package importer_test

import (
	"errors"
	"testing"

	"github.com/paylinks/paylinks/importer"
)

// FuzzParseCSV feeds arbitrary bytes to the parser and the checker: they
// never panic, a refusal is always a FileError in words, and a table read
// has a header, at most MaxRows rows, each below the header.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("userId,amount,currency\nC-1,10,EUR\n"))
	f.Add([]byte("\xEF\xBB\xBFuserId;amount\r\nC-1;\"1.250,00\"\r\n"))
	f.Add([]byte("a\tb\n\"x\ny\"\t\"q\"\"\"\n"))
	f.Add([]byte("userId,note\nC-1,\"open\n"))
	f.Add([]byte("Customer,Total,Currency,Email\n\u202eC,1,250,EUR,maybe\n=1+1,-3,XXX,yes\n"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := importer.Parse(data)
		if err != nil {
			var fe *importer.FileError
			if !errors.As(err, &fe) || fe.Message == "" {
				t.Fatalf("refusal %v is not a FileError with a message", err)
			}
			return
		}
		if len(tb.Headers) == 0 || len(tb.Rows) == 0 || len(tb.Rows) > importer.MaxRows {
			t.Fatalf("table with %d headers and %d rows", len(tb.Headers), len(tb.Rows))
		}
		for _, r := range tb.Rows {
			if r.Line < 2 {
				t.Fatalf("row on line %d, at or above the header", r.Line)
			}
		}
		res := importer.Check(tb, importer.AutoMap(tb.Headers), importer.Options{Now: checkNow})
		if len(res.Rows) != len(tb.Rows) {
			t.Fatalf("%d checked rows of %d", len(res.Rows), len(tb.Rows))
		}
		for _, r := range res.Rows {
			if !r.OK() && len(r.CellErrors)+len(r.RowErrors) == 0 {
				t.Fatalf("row %d refused with no message shown: %v", r.Line, r.Errors)
			}
		}
	})
}
