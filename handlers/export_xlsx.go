package handlers

import (
	"cmp"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// exportXLSX writes the same rows and columns as exportCSV as an .xlsx
// workbook through excelize's streaming writer (rows spill to a temporary
// file, not memory). Sheet "Links" has one row per link: amounts are
// numbers shown with their currency's decimals (the code in its own
// column), times are date-time cells in UTC, times emailed is a number,
// and every other cell is text in Excel's Text format, so nothing is
// evaluated as a formula. Sheet "Totals" has the count and amount per
// currency and status, summed exactly in minor units while the rows
// stream. An .xlsx is a zip whose directory comes last, so the file is
// assembled first and then sent; audited like the CSV.
func (a *app) exportXLSX(c echo.Context) error {
	store := a.store
	s, admin, release, err := a.startLinkExport(c, "xlsx")
	if err != nil {
		return a.exportFailed(c, err)
	}
	defer release()
	ctx := c.Request().Context()
	custom, more, err := store.ExportCustomFieldNames(ctx, s.query, db.MaxExportCustomFields)
	if err != nil {
		return err
	}
	x := newLinkExport(admin, custom, more)
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", linksSheet); err != nil {
		return err
	}
	st, err := newXLSXStyles(f)
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(linksSheet)
	if err != nil {
		return err
	}
	for i, col := range x.cols { // widths go before the first row
		if w := col.width(); w > 0 {
			if err := sw.SetColWidth(i+1, i+1, w); err != nil {
				return err
			}
		}
	}
	cells := make([]any, 0, len(x.cols))
	for _, h := range x.header() {
		cells = append(cells, excelize.Cell{Value: h, StyleID: st.header})
	}
	if err := sw.SetRow("A1", cells); err != nil {
		return err
	}
	rowNum := 2
	var totals xlsxTotals
	err = store.StreamExport(ctx, s.query, func(l db.ExportLink) error {
		cells, err = x.xlsxRow(cells[:0], &l, st)
		if err != nil {
			return err
		}
		totals.add(l.Currency, l.Status, l.AmountMinor)
		cell, _ := excelize.CoordinatesToCellName(1, rowNum)
		rowNum++
		return sw.SetRow(cell, cells)
	})
	x.logMissed(ctx, a.log)
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if err := totals.write(f, st); err != nil {
		return err
	}
	a.startDownload(c, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "paylinks", "xlsx")
	if _, err := f.WriteTo(c.Response()); err != nil {
		logFrom(ctx, a.log).Error("xlsx export interrupted", "rows", rowNum-2, "err", err)
		return nil
	}
	logFrom(ctx, a.log).Info("xlsx export", "rows", rowNum-2)
	return nil
}

// The workbook's sheets.
const (
	linksSheet  = "Links"
	totalsSheet = "Totals"
)

// dateTimeFormat shows a date-time cell as ISO 8601 does, without the
// zone (every time in the export is UTC; the header row says so in the
// guide).
const dateTimeFormat = "yyyy-mm-dd hh:mm:ss"

// xlsxStyles are the workbook's cell styles.
type xlsxStyles struct {
	f      *excelize.File
	text   int         // Excel's Text format (49): a typed value stays text
	header int         // text, bold
	date   int         // dateTimeFormat
	amount map[int]int // by the currency's number of decimals
	minor  big.Int     // scratch for a row's amount
}

func newXLSXStyles(f *excelize.File) (*xlsxStyles, error) {
	s := &xlsxStyles{f: f, amount: map[int]int{}}
	var err error
	// Every text cell is in Excel's Text number format ("@"), so a value
	// that starts with =, +, - or @ stays text even when someone edits the
	// cell later. (Excel marks a typed 'text with its style's quotePrefix;
	// excelize cannot set that flag, and the Text format keeps an edited
	// cell literal the same way.)
	if s.text, err = f.NewStyle(&excelize.Style{NumFmt: 49}); err != nil {
		return nil, err
	}
	if s.header, err = f.NewStyle(&excelize.Style{NumFmt: 49, Font: &excelize.Font{Bold: true}}); err != nil {
		return nil, err
	}
	format := dateTimeFormat
	if s.date, err = f.NewStyle(&excelize.Style{CustomNumFmt: &format}); err != nil {
		return nil, err
	}
	return s, nil
}

// amountStyle is the number format of an amount with exp decimals:
// "#,##0" for JPY, "#,##0.00" for EUR, "#,##0.000" for KWD.
func (s *xlsxStyles) amountStyle(exp int) (int, error) {
	if id, ok := s.amount[exp]; ok {
		return id, nil
	}
	format := "#,##0"
	if exp > 0 {
		format += "." + strings.Repeat("0", exp)
	}
	id, err := s.f.NewStyle(&excelize.Style{CustomNumFmt: &format})
	if err != nil {
		return 0, err
	}
	s.amount[exp] = id
	return id, nil
}

// amountCell is minor units of currency as a number cell in major units
// with the currency's decimals; an amount of a currency paylinks does not
// know is text, as the CSV writes it.
func (s *xlsxStyles) amountCell(minor *big.Int, currency string) (excelize.Cell, error) {
	exp, ok := stablemint.CurrencyExponent(currency)
	if !ok || minor.Sign() < 0 {
		amt, _ := stablemint.NewAmount(minor.Int64(), currency)
		return excelize.Cell{Value: amt.String(), StyleID: s.text}, nil
	}
	style, err := s.amountStyle(exp)
	if err != nil {
		return excelize.Cell{}, err
	}
	return excelize.Cell{Value: majorFloat(minor, exp), StyleID: style}, nil
}

// majorFloat is minor units as a number of major units: the float64
// nearest the exact decimal, which excelize writes back as that decimal
// (shortest representation) for any amount of up to 15 significant
// digits, Excel's own precision.
func majorFloat(minor *big.Int, exp int) float64 {
	if minor.IsInt64() && exp < len(pow10) {
		// Both exact in a float64, so the quotient is correctly rounded.
		if m := minor.Int64(); m < 1<<53 && m > -1<<53 {
			return float64(m) / pow10[exp]
		}
	}
	r := new(big.Rat).SetFrac(minor, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil))
	v, _ := r.Float64()
	return v
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// width is a column's width in the Links sheet: wide enough that a date
// or an amount is not shown as ####; 0 leaves Excel's default.
func (c exportColumn) width() float64 {
	switch c.kind {
	case colTime:
		return 20
	case colAmount:
		return 14
	}
	return 0
}

// xlsxRow appends one link's cells, in column order, to cells.
func (x *linkExport) xlsxRow(cells []any, l *db.ExportLink, st *xlsxStyles) ([]any, error) {
	x.check(l)
	for _, c := range x.cols {
		switch c.kind {
		case colText:
			cells = append(cells, excelize.Cell{Value: c.text(l), StyleID: st.text})
		case colTime:
			t := c.at(l)
			if t.IsZero() {
				cells = append(cells, nil) // an empty cell
				continue
			}
			cells = append(cells, excelize.Cell{Value: t.UTC(), StyleID: st.date})
		case colAmount:
			cell, err := st.amountCell(st.minor.SetInt64(l.AmountMinor), l.Currency)
			if err != nil {
				return nil, err
			}
			cells = append(cells, cell)
		case colCount:
			cells = append(cells, c.count(l))
		}
	}
	return cells, nil
}

// xlsxTotals sums the exported links per currency and status, exactly, in
// minor units: a handful of entries whatever the number of links.
type xlsxTotals struct {
	m map[totalKey]*total
}

type totalKey struct {
	currency string
	status   paylink.Status
}

type total struct {
	count int64
	minor big.Int
	add   big.Int // scratch
}

func (t *xlsxTotals) add(currency string, status paylink.Status, minor int64) {
	if t.m == nil {
		t.m = map[totalKey]*total{}
	}
	k := totalKey{currency, status}
	e := t.m[k]
	if e == nil {
		e = &total{}
		t.m[k] = e
	}
	e.count++
	e.minor.Add(&e.minor, e.add.SetInt64(minor))
}

// statusOrder sorts statuses as paylink lists them.
func statusOrder(s paylink.Status) int {
	if i := slices.Index(paylink.Statuses, s); i >= 0 {
		return i
	}
	return len(paylink.Statuses)
}

// write adds the Totals sheet: currency, status, count, amount; one row
// per currency and status present, by currency then status.
func (t *xlsxTotals) write(f *excelize.File, st *xlsxStyles) error {
	if _, err := f.NewSheet(totalsSheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(totalsSheet)
	if err != nil {
		return err
	}
	if err := sw.SetColWidth(4, 4, 18); err != nil {
		return err
	}
	head := []any{}
	for _, h := range []string{"currency", "status", "count", "amount"} {
		head = append(head, excelize.Cell{Value: h, StyleID: st.header})
	}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	keys := make([]totalKey, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b totalKey) int {
		return cmp.Or(cmp.Compare(a.currency, b.currency), cmp.Compare(statusOrder(a.status), statusOrder(b.status)),
			cmp.Compare(a.status, b.status))
	})
	for i, k := range keys {
		e := t.m[k]
		amount, err := st.amountCell(&e.minor, k.currency)
		if err != nil {
			return err
		}
		row := []any{excelize.Cell{Value: k.currency, StyleID: st.text}, excelize.Cell{Value: string(k.status), StyleID: st.text},
			e.count, amount}
		if err := sw.SetRow("A"+strconv.Itoa(i+2), row); err != nil {
			return err
		}
	}
	return sw.Flush()
}
