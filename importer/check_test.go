package importer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/importer"
)

var checkNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func check(t *testing.T, csv string) importer.Result {
	t.Helper()
	tb := mustParse(t, []byte(csv))
	return importer.Check(tb, importer.AutoMap(tb.Headers), importer.Options{Now: checkNow,
		Defaults: map[string]string{"successUrl": "https://shop.example/ok", "supportUrl": "https://shop.example/help",
			"exitUrl": "https://shop.example/exit", "errorUrl": "https://shop.example/error"}})
}

const head = "Customer,Customer email,Country,Currency,Total,Invoice,Note,Send email\n"

func TestCheckGoodRowsAndTotals(t *testing.T) {
	res := check(t, head+
		"C-1,ann@example.com,de,eur,1 250.50,INV-1,,yes\n"+
		"C-2,bob@example.com,FR,EUR,10,INV-2,,no\n"+
		"C-3,cy@example.com,US,USD,5.25,INV-3,,\n")
	if res.Bad != 0 {
		for _, r := range res.Rows {
			t.Logf("row %d: %v", r.Line, r.Errors)
		}
		t.Fatalf("%d bad rows, want none", res.Bad)
	}
	if !res.Rows[0].Email || res.Rows[1].Email || res.Rows[2].Email {
		t.Errorf("email column not read as yes/no")
	}
	if got := res.Rows[0].Draft.Fields["userCountryCode"]; got != "DE" {
		t.Errorf("country %q, want DE in capitals as the form does", got)
	}
	if len(res.Totals) != 2 || res.Totals[0].Currency != "EUR" || res.Totals[0].Minor != 126050 || res.Totals[0].Rows != 2 ||
		res.Totals[1].Currency != "USD" || res.Totals[1].Minor != 525 {
		t.Errorf("totals %+v", res.Totals)
	}
}

func TestCheckPerCellMessages(t *testing.T) {
	cases := []struct {
		name, row string
		col       int
		want      string
	}{
		{"unknown country", "C-1,a@example.com,XX,EUR,10,INV-1,,", 2, "two-letter ISO 3166-1 code"},
		{"unknown currency", "C-1,a@example.com,DE,EUX,10,INV-1,,", 3, ""},
		{"ambiguous thousands in a 3-decimal currency", "C-1,a@example.com,KW,KWD,\"1,250\",INV-1,,", 4, "ambiguous in KWD"},
		{"too many decimals", "C-1,a@example.com,DE,EUR,10.505,INV-1,,", 4, "2 decimal places at most"},
		{"negative", "C-1,a@example.com,DE,EUR,-5,INV-1,,", 4, "must be positive"},
		{"bad email", "C-1,not-an-email,DE,EUR,10,INV-1,,", 1, ""},
		{"bidi override", "C-1\u202e,a@example.com,DE,EUR,10,INV-1,,", 0, "changes the text's direction"},
		{"control character", "C-1\x07,a@example.com,DE,EUR,10,INV-1,,", 0, "hidden control character"},
		{"email neither yes nor no", "C-1,a@example.com,DE,EUR,10,INV-1,,maybe", 7, "Write yes or no"},
		{"line break outside the note", "\"C-1\nC-2\",a@example.com,DE,EUR,10,INV-1,,", 0, "line break"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, head+tc.row+"\n")
			r := res.Rows[0]
			if r.OK() {
				t.Fatalf("row accepted, want a message in column %d", tc.col)
			}
			msg := r.CellErrors[tc.col]
			if msg == "" || !strings.Contains(msg, tc.want) {
				t.Errorf("column %d: %q, want it to say %q (all: %v, row: %v)", tc.col, msg, tc.want, r.CellErrors, r.RowErrors)
			}
		})
	}
}

func TestCheckFormulaTextIsText(t *testing.T) {
	res := check(t, head+"C-1,a@example.com,DE,EUR,10,\"=HYPERLINK(\"\"x\"\")\",,\n")
	if got := res.Rows[0].Draft.Fields["websiteReference"]; got != "=HYPERLINK(\"x\")" {
		t.Errorf("reference %q, want the text as typed", got)
	}
}

func TestCheckMixedDecimalConventions(t *testing.T) {
	res := check(t, head+
		"C-1,a@example.com,DE,EUR,\"1,250.00\",INV-1,,\n"+
		"C-2,a@example.com,DE,EUR,\"2,500.50\",INV-2,,\n"+
		"C-3,a@example.com,DE,EUR,\"1.250,00\",INV-3,,\n")
	if !res.Rows[0].OK() || !res.Rows[1].OK() {
		t.Errorf("the column's usual convention refused: %v %v", res.Rows[0].Errors, res.Rows[1].Errors)
	}
	if msg := res.Rows[2].CellErrors[4]; !strings.Contains(msg, "decimal comma") {
		t.Errorf("the odd row: %q, want the mixed-convention message", msg)
	}
}

func TestCheckMissingColumnGoesToTheRow(t *testing.T) {
	res := check(t, "Customer,Total,Currency\nC-1,10,EUR\n")
	r := res.Rows[0]
	joined := strings.Join(r.RowErrors, " | ")
	if !strings.Contains(joined, "Customer email") || !strings.Contains(joined, "Customer country") {
		t.Errorf("row messages %q, want the missing email and country named", joined)
	}
}

func TestCheckDuplicateRowsInTheFile(t *testing.T) {
	res := check(t, head+
		"C-1,a@example.com,DE,EUR,10,INV-1,,\n"+
		"C-2,a@example.com,DE,EUR,10,INV-1,,\n"+
		"C-1,a@example.com,DE,EUR,10.00,INV-1,,\n")
	if res.Rows[0].DupOfLine != 0 || res.Rows[1].DupOfLine != 0 {
		t.Errorf("distinct rows marked duplicate")
	}
	if res.Rows[2].DupOfLine != 2 {
		t.Errorf("row 4 duplicates row 2 (10 = 10.00): DupOfLine %d", res.Rows[2].DupOfLine)
	}
}
