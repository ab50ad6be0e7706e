package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
)

// FuzzCSVCell: no output cell starts with a formula trigger, and the
// escaped cell survives an RFC 4180 round trip.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\x00", "plain", "a,b", "\"q\"", "line\nbreak", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		out := neutralise(cell)
		if out != "" && bytes.ContainsRune([]byte("=+-@\t\r\x00"), rune(out[0])) {
			t.Fatalf("neutralise(%q) = %q starts with a trigger", cell, out)
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.Write([]string{out, "x"}); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		rec, err := csv.NewReader(&buf).Read()
		if err != nil {
			return // encoding/csv cannot represent some control bytes; not our escaper's job
		}
		// encoding/csv's reader turns \r\n inside a quoted field into \n
		// (documented); a spreadsheet keeps it. Compare modulo that.
		want := strings.ReplaceAll(out, "\r\n", "\n")
		if rec[0] != want && !(len(out) > 0 && out[len(out)-1] == '\r') {
			t.Fatalf("round trip %q -> %q", out, rec[0])
		}
	})
}

func FuzzAmountCandidates(f *testing.F) {
	for _, s := range []string{"12.50", "12,50", "1 250", "1.250,00", "abc", "", "9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, term string) {
		for _, c := range amountCandidates(term) {
			if c == "" {
				t.Fatalf("empty candidate for %q", term)
			}
		}
	})
}

// TestCustomFieldColumns: a named field has its column; past the cap the
// others share custom_other as JSON; a name found after the first pass is
// counted, not silently lost.
func TestCustomFieldColumns(t *testing.T) {
	l := &db.ExportLink{Link: db.Link{Status: "open", AmountMinor: 1050, Currency: "EUR",
		CustomFields: map[string]string{"a": "=1", "b": "2", "c": "3"}}}
	x := newLinkExport(false, []string{"a"}, true)
	h := x.header()
	row := x.csvRow(nil, l)
	got := map[string]string{}
	for i, name := range h {
		got[name] = row[i]
	}
	if got["custom.a"] != "=1" || got[customOther] != `{"b":"2","c":"3"}` || got["amount"] != "10.50" {
		t.Fatalf("row %v", got)
	}
	if h[len(h)-1] != customOther || x.missed != 0 {
		t.Fatalf("header %v, missed %d", h, x.missed)
	}
	x = newLinkExport(false, []string{"a", "b"}, false)
	x.csvRow(nil, l)
	x.csvRow(nil, &db.ExportLink{Link: db.Link{CustomFields: map[string]string{"a": "1"}}})
	if x.missed != 1 || slices.Contains(x.header(), customOther) {
		t.Fatalf("missed %d, header %v", x.missed, x.header())
	}
}

// TestExportOutlivesTheRequestTimeout: the route's request timeout does not
// end an export's work; the client going away does.
func TestExportOutlivesTheRequestTimeout(t *testing.T) {
	e := echo.New()
	timed, cancelTimed := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelTimed()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/links/export.csv", nil).WithContext(timed), httptest.NewRecorder())
	stop := exportContext(c)
	defer stop()
	<-timed.Done()
	time.Sleep(10 * time.Millisecond)
	if err := c.Request().Context().Err(); err != nil {
		t.Fatalf("the request timeout ended the export: %v", err)
	}
	if d, ok := c.Request().Context().Deadline(); !ok || time.Until(d) < exportWriteTimeout-time.Minute {
		t.Fatalf("export deadline %v, want about %v from now", d, exportWriteTimeout)
	}

	gone, leave := context.WithCancel(context.Background())
	c = e.NewContext(httptest.NewRequest(http.MethodGet, "/links/export.csv", nil).WithContext(gone), httptest.NewRecorder())
	stop2 := exportContext(c)
	defer stop2()
	leave()
	select {
	case <-c.Request().Context().Done():
	case <-time.After(time.Second):
		t.Fatal("the client went away and the export went on")
	}
}
