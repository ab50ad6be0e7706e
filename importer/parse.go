// Package importer reads a spreadsheet of new payment links (CSV or XLSX),
// matches its columns to the new-link form's fields and checks every row
// with the links service's own rules (links.Draft.Validate), before
// anything is stored or sent. It is pure: bytes in, rows and messages out;
// the handlers store the batch and the links service mints it
// (docs/architecture.md, "Walk 3").
package importer

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Limits of one file.
const (
	MaxRows  = 10000    // data rows, the header not counted
	MaxBytes = 10 << 20 // 10 MiB
	// MaxCellBytes is the longest cell read as it is: the longest field
	// (the note) is 2,000 characters.
	MaxCellBytes = 8000
	// maxColumns bounds a row's width (the form has under 40 fields).
	maxColumns = 200
	// xlsxUnzipLimit bounds what an XLSX may expand to (a zip bomb is
	// refused, not unpacked).
	xlsxUnzipLimit = 128 << 20
)

// Formats of a file.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// Table is a file as read: its header and its data rows, every cell text.
type Table struct {
	Format    string
	Delimiter rune // CSV only
	Headers   []string
	Rows      []Row
}

// Row is one data row. Line is its row number in the spreadsheet (the
// header is row 1), as staff see it in their program.
type Row struct {
	Line  int
	Cells []string
	// Numeric marks the cells an XLSX stored as numbers (an amount, or a
	// date as Excel's serial number).
	Numeric []bool
}

// Cell is row's cell in column i ("" past its end).
func (r Row) Cell(i int) string {
	if i < len(r.Cells) {
		return r.Cells[i]
	}
	return ""
}

func (r Row) numeric(i int) bool { return i < len(r.Numeric) && r.Numeric[i] }

// FileError refuses a whole file, in staff's words.
type FileError struct{ Message string }

func (e *FileError) Error() string { return e.Message }

func fileErr(format string, args ...any) error {
	return &FileError{Message: fmt.Sprintf(format, args...)}
}

// Parse reads a CSV or XLSX file (told apart by its content, not its
// name). A file it cannot use comes back as a *FileError; problems of
// single cells are left to Check.
func Parse(data []byte) (*Table, error) {
	switch {
	case len(data) == 0:
		return nil, fileErr("The file is empty.")
	case len(data) > MaxBytes:
		return nil, fileErr("The file is larger than 10 MiB. Split it into smaller files.")
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return parseXLSX(data)
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return nil, fileErr("This is an old Excel file (.xls). Save it as an Excel workbook (.xlsx) or as CSV UTF-8, then upload it again.")
	}
	return parseCSV(data)
}

func parseCSV(data []byte) (*Table, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fileErr("This file is neither CSV nor an Excel workbook (.xlsx). Save it as CSV UTF-8 or .xlsx, then upload it again.")
	}
	if !utf8.Valid(data) {
		return nil, fileErr("This file is not in UTF-8. In Excel, save it as \"CSV UTF-8 (comma delimited)\", then upload it again.")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fileErr("The file is empty.")
	}
	t := &Table{Format: FormatCSV, Delimiter: sniffDelimiter(data)}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = t.Delimiter
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	line := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fileErr("Row %d: a quotation mark is not closed, or stands inside a cell that does not start with one. "+
					"Fix the quoting there (in a spreadsheet program, retype that cell), then upload the file again.", pe.StartLine)
			}
			return nil, fileErr("The file could not be read as CSV.")
		}
		line++
		if line == 1 {
			t.Headers = trimHeaders(rec)
			if len(t.Headers) > maxColumns {
				return nil, fileErr("The file has %d columns; at most %d are read.", len(t.Headers), maxColumns)
			}
			continue
		}
		if blank(rec) {
			continue
		}
		if len(t.Rows) == MaxRows {
			return nil, fileErr("The file has more than %s rows. Split it into files of at most %s rows.", thousands(MaxRows), thousands(MaxRows))
		}
		if len(rec) > maxColumns {
			rec = rec[:maxColumns]
		}
		t.Rows = append(t.Rows, Row{Line: line, Cells: rec})
	}
	return t, t.complete()
}

// complete refuses a table without a header or without rows.
func (t *Table) complete() error {
	if len(t.Headers) == 0 || blank(t.Headers) {
		return fileErr("The file is empty.")
	}
	if len(t.Rows) == 0 {
		return fileErr("The file has a header row but no rows below it: add one row per payment link.")
	}
	return nil
}

// sniffDelimiter picks comma, semicolon or tab: the one the header row
// (outside quotes) has most of; a comma when none.
func sniffDelimiter(data []byte) rune {
	counts := map[rune]int{}
	quoted := false
	for _, r := range string(data[:min(len(data), 64<<10)]) {
		if r == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if r == '\n' {
			break
		}
		if r == ',' || r == ';' || r == '\t' {
			counts[r]++
		}
	}
	best := ','
	for _, r := range []rune{';', '\t'} {
		if counts[r] > counts[best] {
			best = r
		}
	}
	return best
}

func parseXLSX(data []byte) (*Table, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit: xlsxUnzipLimit, UnzipXMLSizeLimit: 16 << 20})
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "size") {
			return nil, fileErr("This workbook unpacks to more than %d MiB. Save the rows as CSV UTF-8 and upload that.", xlsxUnzipLimit>>20)
		}
		return nil, fileErr("This file could not be opened as an Excel workbook (.xlsx). Save it again as .xlsx or as CSV UTF-8.")
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, fileErr("The workbook has no sheet.")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, fileErr("The first sheet of the workbook could not be read.")
	}
	defer rows.Close()
	t := &Table{Format: FormatXLSX}
	line := 0
	for rows.Next() {
		line++
		// Cell values, never formulas: a formula cell gives the value
		// Excel saved with it. Raw values: numbers as stored (a date is
		// its serial number, read by the field that wants a date).
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fileErr("Row %d of the first sheet could not be read.", line)
		}
		if len(cols) > maxColumns {
			cols = cols[:maxColumns]
		}
		if len(t.Headers) == 0 {
			if blank(cols) {
				if line > 100 { // leading blank rows: allowed, within reason
					return nil, fileErr("The first sheet has no header row in its first 100 rows.")
				}
				continue
			}
			t.Headers = trimHeaders(cols)
			continue
		}
		if blank(cols) {
			if line-len(t.Rows) > MaxRows+1000 { // a sheet of empty rows: stop reading it
				break
			}
			continue
		}
		if len(t.Rows) == MaxRows {
			return nil, fileErr("The file has more than %s rows. Split it into files of at most %s rows.", thousands(MaxRows), thousands(MaxRows))
		}
		row := Row{Line: line, Cells: cols, Numeric: make([]bool, len(cols))}
		for i, v := range cols {
			// A number as Excel stores it: plain digits with at most a
			// point and an exponent (a text cell keeps what was typed; one
			// typed as such a number is read the same way).
			row.Numeric[i] = xlsxNumber(v)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, t.complete()
}

// xlsxNumber reports a value as a workbook stores a number: "1250.5",
// "45291", "1.2E-3".
func xlsxNumber(v string) bool {
	if v == "" || strings.ContainsAny(v, " ,xXpP_") || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return false
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil && v[len(v)-1] != '.'
}

func trimHeaders(rec []string) []string {
	out := make([]string, len(rec))
	for i, h := range rec {
		out[i] = strings.TrimSpace(h)
	}
	// Trailing empty header cells with nothing under them are no columns.
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimFunc(c, unicode.IsSpace) != "" {
			return false
		}
	}
	return true
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
