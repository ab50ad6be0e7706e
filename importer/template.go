package importer

import (
	"bytes"
	"encoding/csv"

	"github.com/xuri/excelize/v2"
)

// TemplateCSV is the template to fill in: one header row of the form's
// field names (TemplateFields), UTF-8 with a byte-order mark so Excel
// reads accents right.
func TemplateCSV() []byte {
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBF")
	w := csv.NewWriter(&b)
	_ = w.Write(TemplateFields()) // a bytes.Buffer does not fail
	w.Flush()
	return b.Bytes()
}

// TemplateXLSX is the same template as a workbook, every column in Excel's
// Text format so IDs and references keep their leading zeros.
func TemplateXLSX() ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Links"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, NumFmt: 49})
	if err != nil {
		return nil, err
	}
	fields := TemplateFields()
	last, _ := excelize.ColumnNumberToName(len(fields))
	if err := f.SetColStyle(sheet, "A:"+last, text); err != nil {
		return nil, err
	}
	if err := f.SetColWidth(sheet, "A", last, 20); err != nil {
		return nil, err
	}
	row := make([]any, len(fields))
	for i, s := range fields {
		row[i] = s
	}
	if err := f.SetSheetRow(sheet, "A1", &row); err != nil {
		return nil, err
	}
	if err := f.SetRowStyle(sheet, 1, 1, bold); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
