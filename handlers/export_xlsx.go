package handlers

import (
	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/db"
)

// exportXLSX writes the same rows and columns as exportCSV as an .xlsx
// workbook through excelize's streaming writer (rows spill to a temporary
// file, not memory). Every cell is a text cell, so nothing is evaluated as
// a formula and amounts stay exact. An .xlsx is a zip whose directory comes
// last, so the file is assembled first and then sent; audited like the CSV.
func (a *app) exportXLSX(c echo.Context) error {
	s, admin, release, err := a.startLinkExport(c, "xlsx")
	if err != nil {
		return err
	}
	defer release()
	ctx := c.Request().Context()
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Links"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	// Every cell is a text cell in Excel's Text number format ("@"), so a
	// value that starts with =, +, - or @ stays text even when someone
	// edits the cell later. (Excel marks a typed 'text with its style's
	// quotePrefix; excelize cannot set that flag, and the Text format keeps
	// an edited cell literal the same way.)
	textStyle, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return err
	}
	cells := make([]any, 0, 32)
	rowNum := 1
	put := func(values []string) error {
		cells = cells[:0]
		for _, v := range values {
			cells = append(cells, excelize.Cell{Value: v, StyleID: textStyle})
		}
		cell, _ := excelize.CoordinatesToCellName(1, rowNum)
		rowNum++
		return sw.SetRow(cell, cells)
	}
	if err := put(exportHeader(admin)); err != nil {
		return err
	}
	row := make([]string, 0, 32)
	if err := a.store.StreamLinks(ctx, s.query, func(l db.Link) error {
		row = exportRow(row[:0], l, admin)
		return put(row)
	}); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	a.startDownload(c, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "paylinks", "xlsx")
	if _, err := f.WriteTo(c.Response()); err != nil {
		logFrom(ctx, a.log).Error("xlsx export interrupted", "rows", rowNum-2, "err", err)
	}
	return nil
}
