package importer_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/importer"
)

func mustParse(t *testing.T, data []byte) *importer.Table {
	t.Helper()
	tb, err := importer.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tb
}

func TestParseCSVVariants(t *testing.T) {
	want := [][]string{{"C-1", "ann@example.com", "12,50", "Line one\nline \"two\""}, {"C-2", "bob@example.com", "7", ""}}
	cases := []struct {
		name  string
		input string
		delim rune
	}{
		{"comma", "userId,userEmail,amount,note\nC-1,ann@example.com,\"12,50\",\"Line one\nline \"\"two\"\"\"\nC-2,bob@example.com,7,\n", ','},
		{"comma with BOM and CRLF", "\xEF\xBB\xBFuserId,userEmail,amount,note\r\nC-1,ann@example.com,\"12,50\",\"Line one\nline \"\"two\"\"\"\r\nC-2,bob@example.com,7,\r\n", ','},
		{"semicolon (Excel in Europe)", "userId;userEmail;amount;note\nC-1;ann@example.com;12,50;\"Line one\nline \"\"two\"\"\"\nC-2;bob@example.com;7;\n", ';'},
		{"tab", "userId\tuserEmail\tamount\tnote\nC-1\tann@example.com\t12,50\t\"Line one\nline \"\"two\"\"\"\nC-2\tbob@example.com\t7\t\n", '\t'},
		{"blank lines skipped", "userId,userEmail,amount,note\n\nC-1,ann@example.com,\"12,50\",\"Line one\nline \"\"two\"\"\"\n,,,\nC-2,bob@example.com,7\n", ','},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := mustParse(t, []byte(tc.input))
			if tb.Format != importer.FormatCSV || tb.Delimiter != tc.delim {
				t.Errorf("format %q delimiter %q, want csv %q", tb.Format, tb.Delimiter, tc.delim)
			}
			if got := strings.Join(tb.Headers, "|"); got != "userId|userEmail|amount|note" {
				t.Errorf("headers %q", got)
			}
			if len(tb.Rows) != 2 {
				t.Fatalf("%d rows, want 2", len(tb.Rows))
			}
			for i, row := range tb.Rows {
				for j, w := range want[i] {
					if row.Cell(j) != w {
						t.Errorf("row %d cell %d = %q, want %q", i, j, row.Cell(j), w)
					}
				}
			}
			if tc.name != "blank lines skipped" && (tb.Rows[0].Line != 2 || tb.Rows[1].Line != 3) {
				t.Errorf("rows on lines %d and %d, want 2 and 3 (the header is row 1)", tb.Rows[0].Line, tb.Rows[1].Line)
			}
		})
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	many := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("userId,amount\n")
		for range n {
			b.WriteString("C,1\n")
		}
		return b.Bytes()
	}
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty", "The file is empty.", nil},
		{"only spaces", "The file is empty.", []byte(" \n \n")},
		{"header only", "has a header row but no rows", []byte("userId,amount\n")},
		{"broken quoting", "Row 3: a quotation mark is not closed", []byte("userId,note\nC-1,fine\nC-2,\"open\nC-3,x\n")},
		{"quote inside a cell", "Row 2: a quotation mark", []byte("userId,note\nC-1,say \"hi\"\n")},
		{"old Excel", "old Excel file (.xls)", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 100)...)},
		{"binary", "neither CSV nor an Excel workbook", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00")},
		{"Latin-1", "not in UTF-8", []byte("userId,note\nC-1,caf\xe9\n")},
		{"not a workbook", "could not be opened as an Excel workbook", []byte("PK\x03\x04garbage")},
		{"10,001 rows", "more than 10,000 rows", many(10001)},
		{"too large", "larger than 10 MiB", make([]byte, importer.MaxBytes+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importer.Parse(tc.data)
			var fe *importer.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if !strings.Contains(fe.Message, tc.want) {
				t.Errorf("message %q, want it to say %q", fe.Message, tc.want)
			}
		})
	}
	t.Run("10,000 rows are read", func(t *testing.T) {
		if tb := mustParse(t, many(10000)); len(tb.Rows) != 10000 {
			t.Errorf("%d rows", len(tb.Rows))
		}
	})
}

// xlsxFile builds a workbook in the test with excelize.
func xlsxFile(t *testing.T, build func(f *excelize.File, sheet string)) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	build(f, "Sheet1")
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseXLSX(t *testing.T) {
	data := xlsxFile(t, func(f *excelize.File, s string) {
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(f.SetSheetRow(s, "A1", &[]any{"Customer", "Total", "Currency", "Date of birth", "Invoice"}))
		must(f.SetSheetRow(s, "A2", &[]any{"C-1", 1250.5, "EUR", time.Date(1980, 2, 29, 0, 0, 0, 0, time.UTC), "=INV-1"}))
		must(f.SetSheetRow(s, "A3", &[]any{"C-2", 0.1 + 0.2, "EUR", "", "INV-2"}))
		// A formula: its saved value is read, never the formula.
		must(f.SetCellFormula(s, "B3", "=0.1+0.2"))
		// A second sheet is not read.
		_, err := f.NewSheet("Other")
		must(err)
		must(f.SetCellValue("Other", "A1", "ignored"))
	})
	tb := mustParse(t, data)
	if tb.Format != importer.FormatXLSX {
		t.Fatalf("format %q", tb.Format)
	}
	if got := strings.Join(tb.Headers, "|"); got != "Customer|Total|Currency|Date of birth|Invoice" {
		t.Errorf("headers %q", got)
	}
	if len(tb.Rows) != 2 || tb.Rows[0].Line != 2 || tb.Rows[1].Line != 3 {
		t.Fatalf("rows %+v", tb.Rows)
	}
	m := importer.AutoMap(tb.Headers)
	res := importer.Check(tb, m, importer.Options{Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	first := res.Rows[0]
	if got := first.Draft.Fields["amount"]; got != "1250.5" {
		t.Errorf("amount read as %q, want 1250.5", got)
	}
	if got := first.Draft.Fields["userKyc.dateOfBirth"]; got != "1980-02-29" {
		t.Errorf("date of birth read as %q, want 1980-02-29 (from Excel's serial number)", got)
	}
	if got := first.Draft.Fields["websiteReference"]; got != "=INV-1" {
		t.Errorf("a cell starting with = is text: got %q", got)
	}
	if got := res.Rows[1].Draft.Fields["amount"]; got != "0.3" {
		t.Errorf("0.1+0.2 read as %q, want 0.3 (Excel's 15 digits; the formula's saved value, not the formula)", got)
	}
}

func TestParseXLSXRefusesTooManyRows(t *testing.T) {
	data := xlsxFile(t, func(f *excelize.File, s string) {
		sw, err := f.NewStreamWriter(s)
		if err != nil {
			t.Fatal(err)
		}
		_ = sw.SetRow("A1", []any{"userId", "amount"})
		for i := 2; i <= importer.MaxRows+2; i++ {
			cell, _ := excelize.CoordinatesToCellName(1, i)
			_ = sw.SetRow(cell, []any{"C", 1})
		}
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	_, err := importer.Parse(data)
	var fe *importer.FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "more than 10,000 rows") {
		t.Fatalf("err = %v, want more than 10,000 rows", err)
	}
}

func TestTemplatesReadBackAsTheFormsFields(t *testing.T) {
	x, err := importer.TemplateXLSX()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"csv": importer.TemplateCSV(), "xlsx": x} {
		t.Run(name, func(t *testing.T) {
			_, err := importer.Parse(data)
			var fe *importer.FileError
			if !errors.As(err, &fe) || !strings.Contains(fe.Message, "no rows") {
				t.Fatalf("an unfilled template: err = %v, want header-only refusal", err)
			}
		})
	}
	want := importer.TemplateFields()
	tb := mustParse(t, append(importer.TemplateCSV(), []byte("C-1,a@example.com,DE,EUR,10.00,INV-1,,,,,,,,,,yes\n")...))
	m := importer.AutoMap(tb.Headers)
	for i, f := range want {
		if m[i] != f {
			t.Errorf("template column %d (%s) maps to %q", i, f, m[i])
		}
	}
}
