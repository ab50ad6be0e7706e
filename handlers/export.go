package handlers

import (
	"encoding/csv"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
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

// csvCellWriter writes rows with every cell neutralised.
func csvCellWriter(w *csv.Writer) func([]string) error {
	return func(cells []string) error {
		for i := range cells {
			cells[i] = neutralise(cells[i])
		}
		return w.Write(cells)
	}
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

var csvHeader = []string{"id", "status", "amount", "currency", "customer_id", "customer_email", "country",
	"website_reference", "stablemint_reference", "session_id", "deposit_reference", "created_at", "expires_at",
	"created_by", "note", "checkout_url", "paid_after_expiry", "needs_review"}

// exportCSV streams every link the list's search and filters select, in
// the list's order, as RFC 4180 CSV in UTF-8 with a header row. KYC columns
// are added for admins only. The download is audited before it starts.
func (a *app) exportCSV(c echo.Context) error {
	u := currentUser(c)
	if !a.exports.acquire(u.ID) {
		return echo.NewHTTPError(http.StatusTooManyRequests, "an export is already running")
	}
	defer a.exports.release(u.ID)
	s := parseLinkSearch(c.QueryParams())
	s.query.After, s.query.Before = "", ""
	ctx := c.Request().Context()
	audit := a.auditEntry(c, "links.export")
	audit.Target = "links"
	audit.Details = "csv " + s.values().Encode()
	if err := a.store.Audit(ctx, audit); err != nil {
		return err
	}
	admin := u.Role == paylink.RoleAdmin
	header := exportHeader(admin)
	a.startDownload(c, "text/csv; charset=utf-8", "paylinks", "csv")
	w := csv.NewWriter(c.Response())
	row := make([]string, 0, len(header))
	write := csvCellWriter(w)
	if err := write(append(row[:0], header...)); err != nil {
		return err
	}
	n := 0
	err := a.store.StreamLinks(ctx, s.query, func(l db.Link) error {
		row = exportRow(row[:0], l, admin)
		if err := write(row); err != nil {
			return err
		}
		if n++; n%1000 == 0 {
			w.Flush()
			return w.Error()
		}
		return nil
	})
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil {
		// Headers are sent: the error handler cannot answer any more. Log it;
		// the client sees a truncated file.
		logFrom(ctx, a.log).Error("export interrupted", "rows", n, "err", err)
		return nil
	}
	logFrom(ctx, a.log).Info("export", "rows", n)
	return nil
}

// exportHeader names the export columns; KYC ones for admins only.
func exportHeader(admin bool) []string {
	header := append([]string(nil), csvHeader...)
	if admin {
		for _, f := range kycFields {
			header = append(header, "kyc_"+f.Key)
		}
	}
	return header
}

// exportRow appends one link's cells, in exportHeader's order, to row.
func exportRow(row []string, l db.Link, admin bool) []string {
	amt, _ := stablemint.NewAmount(l.AmountMinor, l.Currency)
	row = append(row, itoa(l.ID), string(l.Status), amt.String(), l.Currency, l.CustomerID, l.CustomerEmail,
		l.Country, l.WebsiteReference, l.SMReference, l.SMSessionID, l.DepositReference,
		l.CreatedAt.UTC().Format(time.RFC3339), timeOrEmpty(l.ExpiresAt), l.CreatedByName, l.Note,
		l.CheckoutURL, boolText(l.PaidAfterExpiry), boolText(l.NeedsReview))
	if admin {
		for _, f := range kycFields {
			row = append(row, l.KYC[f.Key])
		}
	}
	return row
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
