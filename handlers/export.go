package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// exportWriteTimeout replaces the server's 30 s write deadline for one
// export; a slow reader is still cut off at it.
const exportWriteTimeout = 5 * time.Minute

// neutralise defuses a cell a spreadsheet would run as a formula: a leading
// =, +, -, @, tab, CR or NUL gets a ' in front (ASVS 1.2.10). encoding/csv
// then quotes per RFC 4180.
func neutralise(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r', 0:
		return "'" + cell
	}
	return cell
}

// startDownload sends the headers of a file download (attachment, nosniff,
// no-store) with the export's own write deadline, and the 200 status.
func (a *app) startDownload(c echo.Context, contentType, name, ext string) {
	rc := http.NewResponseController(c.Response().Writer)
	_ = rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType)
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+"-"+a.now().UTC().Format("2006-01-02")+"."+ext+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
}

// csvStream writes an RFC 4180 download row by row, every cell
// neutralised, flushing to the client every 1,000 rows.
type csvStream struct {
	w    *csv.Writer
	rows int // data rows written, the header not counted
}

func newCSVStream(w io.Writer, header []string) (*csvStream, error) {
	s := &csvStream{w: csv.NewWriter(w)}
	return s, s.w.Write(neutraliseAll(slices.Clone(header)))
}

// Row writes one row; cells is neutralised in place.
func (s *csvStream) Row(cells []string) error {
	if err := s.w.Write(neutraliseAll(cells)); err != nil {
		return err
	}
	if s.rows++; s.rows%1000 == 0 {
		s.w.Flush()
		return s.w.Error()
	}
	return nil
}

// End flushes the stream and logs how it ended, joined with streamErr (the
// source's error). Headers are sent by then, so an error can only be
// logged: the client sees a truncated file.
func (s *csvStream) End(ctx context.Context, log *slog.Logger, what string, streamErr error) {
	s.w.Flush()
	if err := errors.Join(streamErr, s.w.Error()); err != nil {
		logFrom(ctx, log).Error(what+" interrupted", "rows", s.rows, "err", err)
		return
	}
	logFrom(ctx, log).Info(what, "rows", s.rows)
}

func neutraliseAll(cells []string) []string {
	for i := range cells {
		cells[i] = neutralise(cells[i])
	}
	return cells
}

// exportContext gives an export's work (its queries, building the file)
// the export's own time, exportWriteTimeout, in place of the 20 s every
// other request gets (requestTimeout): a million links take longer than
// that to read, and the route's timeout would cut the file short. The
// client going away still stops it at once. Call stop when the export
// ends.
func exportContext(c echo.Context) (stop func()) {
	req := c.Request().Context()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req), exportWriteTimeout)
	// The request's context ends at requestTimeout (DeadlineExceeded) or
	// when the client goes (Canceled): only the latter ends the export.
	unwatch := context.AfterFunc(req, func() {
		if !errors.Is(req.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	c.SetRequest(c.Request().WithContext(ctx))
	return func() { unwatch(); cancel() }
}

// refusedExport is an export whose filters the list refuses (a date
// range that ends before it starts): it gets the list's own message with
// 422, never an empty file.
type refusedExport struct{ msgs []string }

func (r refusedExport) Error() string { return "export refused: " + strings.Join(r.msgs, " ") }

// exportFailed answers an export that did not start: a refused search
// gets a 422 page with the list's messages and a way back to the list;
// any other error goes to the error handler.
func (a *app) exportFailed(c echo.Context, err error) error {
	var r refusedExport
	if !errors.As(err, &r) {
		return err
	}
	return a.render(c, http.StatusUnprocessableEntity, views.Error(views.ErrorPage{
		Layout: a.layout(c, "Nothing exported", "links"), Status: http.StatusUnprocessableEntity,
		Title: "Nothing exported", Message: strings.Join(r.msgs, " ") + " Go back to the list, correct the dates and export again.",
	}))
}

// startLinkExport opens an export of the links the list's search and
// filters select (all pages): one export per user at a time, audited
// before anything is read. release must be called when it ends. Filters
// the list refuses (parseLinkSearch) refuse the export too.
func (a *app) startLinkExport(c echo.Context, format string) (s linkSearch, admin bool, release func(), err error) {
	u := currentUser(c)
	if s = parseLinkSearch(c.QueryParams()); s.refused {
		var msgs []string
		for _, k := range []string{"created_range", "expires_range"} {
			if m := s.filter.Errors[k]; m != "" {
				msgs = append(msgs, m)
			}
		}
		return s, false, nil, refusedExport{msgs}
	}
	if !a.exports.acquire(u.ID) {
		return s, false, nil, echo.NewHTTPError(http.StatusTooManyRequests, "an export is already running")
	}
	stop := exportContext(c)
	release = func() { stop(); a.exports.release(u.ID) }
	s.query.After, s.query.Before = "", ""
	audit := a.auditEntry(c, "links.export")
	audit.Target = "links"
	audit.Details = format + " " + s.values().Encode()
	if err := a.store.Audit(c.Request().Context(), audit); err != nil {
		release()
		return s, false, nil, err
	}
	return s, u.Role == paylink.RoleAdmin, release, nil
}

// exportLimiter lets each user run one export at a time.
type exportLimiter struct {
	mu      sync.Mutex
	running map[int64]bool
}

func (l *exportLimiter) acquire(user int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		l.running = map[int64]bool{}
	}
	if l.running[user] {
		return false
	}
	l.running[user] = true
	return true
}

func (l *exportLimiter) release(user int64) {
	l.mu.Lock()
	delete(l.running, user)
	l.mu.Unlock()
}

// exportCSV streams every link the list's search and filters select, in
// the list's order, as RFC 4180 CSV in UTF-8 with a header row: the columns
// of export_columns.go, every cell neutralised, times in ISO 8601 UTC.
// The custom-field columns are named by a first pass over the same
// selection (db.Store.ExportCustomFieldNames) before the header is sent.
// KYC columns are added for admins only. The download is audited before it
// starts.
func (a *app) exportCSV(c echo.Context) error {
	store := a.store
	s, admin, release, err := a.startLinkExport(c, "csv")
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
	a.startDownload(c, "text/csv; charset=utf-8", "paylinks", "csv")
	out, err := newCSVStream(c.Response(), x.header())
	if err != nil {
		return err
	}
	row := make([]string, 0, len(x.cols))
	err = store.StreamExport(ctx, s.query, func(l db.ExportLink) error {
		row = x.csvRow(row[:0], &l)
		return out.Row(row)
	})
	x.logMissed(ctx, a.log)
	out.End(ctx, a.log, "export", err)
	return nil
}
