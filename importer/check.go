package importer

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/stablemint"
)

// Options are what checking a row needs beside the row.
type Options struct {
	// Limits are the amounts a link in currency may carry (the minter's:
	// StableMint's, narrowed by the settings), as the form has them.
	Limits func(currency string) stablemint.Limits
	// Now dates the check (a date of birth in the future).
	Now time.Time
	// Defaults fill fields no column fills, as the form prefills them:
	// the redirect URLs and the settings' currency.
	Defaults map[string]string
}

// Checked is one row as checked.
type Checked struct {
	Line  int
	Cells []string
	Draft links.Draft
	Email bool
	// Errors are the row's problems by field (the form's names, "email",
	// "customFields") in the form's words.
	Errors links.FieldErrors
	// CellErrors are the same problems by column; RowErrors those of
	// fields no column fills, each naming its field.
	CellErrors map[int]string
	RowErrors  []string
	Amount     stablemint.Amount
	// Request is the StableMint request Validate built (a good row only):
	// links.NewLink turns it into the link to store.
	Request stablemint.Request
	// DupOfLine is the earlier row of the file with the same customer,
	// website reference and amount (0: none).
	DupOfLine int
}

// OK reports a row with no problem.
func (c Checked) OK() bool { return len(c.Errors) == 0 }

// Key is what makes two links duplicates: customer, website reference,
// amount and currency.
func (c Checked) Key() DupKey {
	return DupKey{c.Draft.Fields["userId"], c.Draft.Fields["websiteReference"], c.Amount.Minor, c.Amount.Currency}
}

// DupKey is the duplicate guard's key.
type DupKey struct {
	CustomerID, WebsiteReference string
	AmountMinor                  int64
	Currency                     string
}

// Total is the sum of the good rows in one currency.
type Total struct {
	Currency string
	Minor    int64
	Rows     int
}

// Result is a checked file.
type Result struct {
	Rows   []Checked
	Totals []Total
	Bad    int // rows with a problem
}

// Check runs every row through the new-link form's own rules
// (links.Draft.Validate, after links.CleanFields) and the import's own:
// no control or direction characters, cells of sensible length, one
// decimal convention per amount column, yes or no for email.
func Check(t *Table, m Mapping, o Options) Result {
	var res Result
	amountCol := m.Column("amount")
	mixed := mixedDecimals(t, amountCol)
	seen := map[DupKey]int{}
	totals := map[string]*Total{}
	for _, row := range t.Rows {
		c := checkRow(t, row, m, o)
		if msg, ok := mixed[row.Line]; ok && c.Errors["amount"] == "" {
			c.Errors["amount"] = msg
		}
		c.place(m)
		if c.OK() {
			k := c.Key()
			if first, ok := seen[k]; ok {
				c.DupOfLine = first
			} else {
				seen[k] = c.Line
			}
			tot := totals[c.Amount.Currency]
			if tot == nil {
				tot = &Total{Currency: c.Amount.Currency}
				totals[c.Amount.Currency] = tot
			}
			if tot.Minor <= math.MaxInt64-c.Amount.Minor {
				tot.Minor += c.Amount.Minor
			}
			tot.Rows++
		} else {
			res.Bad++
		}
		res.Rows = append(res.Rows, c)
	}
	for _, tot := range totals {
		res.Totals = append(res.Totals, *tot)
	}
	slices.SortFunc(res.Totals, func(a, b Total) int { return strings.Compare(a.Currency, b.Currency) })
	return res
}

func checkRow(t *Table, row Row, m Mapping, o Options) Checked {
	c := Checked{Line: row.Line, Cells: row.Cells, Errors: links.FieldErrors{}}
	v := map[string]string{}
	for _, f := range links.FormFields {
		v[f] = ""
	}
	for _, k := range links.KYCKeys {
		v["userKyc."+k] = ""
	}
	emailText := ""
	for i, f := range m {
		if f == "" {
			continue
		}
		cell := row.Cell(i)
		if msg := cellProblem(cell, f); msg != "" {
			c.Errors[f] = msg
			cell = ""
		}
		if t.Format == FormatXLSX && row.numeric(i) {
			cell = xlsxValue(cell, f)
		}
		switch {
		case f == EmailField:
			emailText = cell
		case strings.HasPrefix(f, CustomPrefix):
			if strings.TrimSpace(cell) != "" {
				c.Draft.CustomFields = append(c.Draft.CustomFields,
					links.CustomField{Name: strings.TrimPrefix(f, CustomPrefix), Value: strings.TrimSpace(cell)})
			}
		default:
			v[f] = cell
		}
	}
	for f, d := range o.Defaults {
		if m.Column(f) < 0 && v[f] == "" {
			v[f] = d
		}
	}
	links.CleanFields(v)
	c.Draft.Fields = v
	switch strings.ToLower(strings.TrimSpace(emailText)) {
	case "", "no", "n", "false", "0":
	case "yes", "y", "true", "1", "x":
		c.Email = true
	default:
		c.Errors[EmailField] = "Write yes or no: yes emails the customer their link once it is made."
	}
	limits := stablemint.Limits{}
	if o.Limits != nil {
		limits = o.Limits(v["currency"])
	}
	req, errs := c.Draft.Validate(limits, o.Now)
	for f, msg := range errs {
		if _, taken := c.Errors[f]; !taken {
			c.Errors[f] = msg
		}
	}
	if len(c.Errors) == 0 {
		c.Amount, c.Request = req.Amount, req
	}
	return c
}

// place sets each error on its column, or on the row when no column
// fills its field.
func (c *Checked) place(m Mapping) {
	c.CellErrors = map[int]string{}
	fields := make([]string, 0, len(c.Errors))
	for f := range c.Errors {
		fields = append(fields, f)
	}
	slices.SortFunc(fields, func(a, b string) int { return fieldOrder(a) - fieldOrder(b) })
	for _, f := range fields {
		msg := c.Errors[f]
		col := m.Column(f)
		if f == "customFields" {
			col = slices.IndexFunc(m, func(s string) bool { return strings.HasPrefix(s, CustomPrefix) })
		}
		if col >= 0 {
			if prev := c.CellErrors[col]; prev != "" {
				msg = prev + " " + msg
			}
			c.CellErrors[col] = msg
			continue
		}
		c.RowErrors = append(c.RowErrors, Label(f)+": "+msg)
	}
}

func fieldOrder(f string) int {
	if i := slices.Index(Fields(), f); i >= 0 {
		return i
	}
	return len(Fields())
}

// labels are the fields as the form labels them.
var labels = map[string]string{
	"userId": "Customer ID", "userEmail": "Customer email", "userCountryCode": "Customer country",
	"currency": "Currency", "amount": "Amount", "websiteReference": "Website reference", "note": "Note",
	"successUrl": "Success URL", "supportUrl": "Support URL", "exitUrl": "Exit URL", "errorUrl": "Error URL",
	"customFields": "Custom fields", EmailField: "Email the customer",
	"userKyc.fullName": "Full name", "userKyc.citizenshipCountryCode": "Citizenship", "userKyc.residenceAddress": "Residence address",
	"userKyc.dateOfBirth": "Date of birth", "userKyc.placeOfBirth": "Place of birth", "userKyc.gender": "Gender",
	"userKyc.mobilePhone": "Mobile phone", "userKyc.personalIdentificationNumber": "Personal identification number",
}

// Label is a field's name as the form shows it.
func Label(f string) string {
	if l, ok := labels[f]; ok {
		return l
	}
	if name, ok := strings.CutPrefix(f, CustomPrefix); ok {
		return "Custom field " + strconv.Quote(name)
	}
	return f
}

// cellProblem refuses what no field may hold: control characters (a
// line break is allowed in the note), direction overrides and invisible
// marks, and cells far longer than any field.
func cellProblem(s, field string) string {
	if len(s) > MaxCellBytes {
		return fmt.Sprintf("This cell is %d characters long; no field takes more than %d. Shorten it.", len([]rune(s)), links.MaxNoteLength)
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			if field != "note" && strings.TrimSpace(s) != strings.TrimSpace(strings.ReplaceAll(s, string(r), "")) {
				return "This cell has a line break or tab inside it. Keep it on one line."
			}
		case r == 0:
			return "This cell has a hidden null character. Retype it."
		case unicode.IsControl(r):
			return fmt.Sprintf("This cell has a hidden control character (U+%04X). Retype it.", r)
		case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
			return fmt.Sprintf("This cell has a hidden character that changes the text's direction (U+%04X), which can make it read differently from what is stored. Retype it.", r)
		case r == '\u200b' || r == '\ufeff' || r == '\u2060':
			return fmt.Sprintf("This cell has an invisible character (U+%04X). Retype it.", r)
		}
	}
	return ""
}

// xlsxValue reads a number a workbook stored: a date of birth from
// Excel's serial number, anything else as the shortest decimal that
// reads back to what Excel kept (15 significant digits: 0.1+0.2 is 0.3).
func xlsxValue(raw, field string) string {
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return raw
	}
	if field == "userKyc.dateOfBirth" && f >= 1 && f < 2958466 {
		if t, err := excelize.ExcelDateToTime(f, false); err == nil {
			return t.Format(time.DateOnly)
		}
	}
	g, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	return strconv.FormatFloat(g, 'f', -1, 64)
}

// mixedDecimals finds the amounts of a column that write decimals the
// other way from most of the column (1,250.00 beside 1.250,00), by line.
func mixedDecimals(t *Table, col int) map[int]string {
	out := map[int]string{}
	if col < 0 {
		return out
	}
	var point, comma []int
	for _, row := range t.Rows {
		if t.Format == FormatXLSX && row.numeric(col) {
			continue
		}
		switch decimalMark(row.Cell(col)) {
		case '.':
			point = append(point, row.Line)
		case ',':
			comma = append(comma, row.Line)
		}
	}
	if len(point) == 0 || len(comma) == 0 {
		return out
	}
	odd, msg := comma, "This amount has a decimal comma, but most amounts in this column have a decimal point (as in 1,250.00). Write every amount of the column the same way."
	if len(comma) > len(point) {
		odd, msg = point, "This amount has a decimal point, but most amounts in this column have a decimal comma (as in 1.250,00). Write every amount of the column the same way."
	}
	for _, line := range odd {
		out[line] = msg
	}
	return out
}

// decimalMark is the decimal separator an amount surely uses: the last of
// '.' and ',' when both appear, a lone one followed by other than three
// digits; 0 when unsure or none.
func decimalMark(s string) byte {
	s = strings.TrimSpace(s)
	dot, comma := strings.LastIndexByte(s, '.'), strings.LastIndexByte(s, ',')
	switch {
	case dot >= 0 && comma >= 0:
		return s[max(dot, comma)]
	case dot >= 0 && strings.Count(s, ".") == 1 && len(s)-dot-1 != 3:
		return '.'
	case comma >= 0 && strings.Count(s, ",") == 1 && len(s)-comma-1 != 3:
		return ','
	}
	return 0
}
