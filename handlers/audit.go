package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/views"
)

const auditPerPage = 100

// auditOutcomes are the outcomes the filter offers.
var auditOutcomes = []string{"ok", "failed", "denied", "locked", "flagged"}

// auditSearch is the page's URL state.
type auditSearch struct {
	filter views.AuditFilter
	query  db.AuditQuery
}

// parseAuditSearch reads the filters from the query string. A bad value
// becomes a message beside its field and is ignored, never a 400.
func parseAuditSearch(v url.Values) auditSearch {
	f := views.AuditFilter{
		Actor: oneLine(v.Get("actor"), 254), Action: oneLine(v.Get("action"), 100),
		Outcome: v.Get("outcome"), From: v.Get("from"), To: v.Get("to"), Errors: views.FieldErrors{},
	}
	q := db.AuditQuery{Action: f.Action, Limit: auditPerPage}
	if f.Actor != "" {
		if id, err := strconv.ParseInt(f.Actor, 10, 64); err == nil && id > 0 {
			q.ActorID = id
		} else {
			q.ActorEmail = f.Actor
		}
	}
	if slices.Contains(auditOutcomes, f.Outcome) {
		q.Outcome = f.Outcome
	} else {
		f.Outcome = ""
	}
	q.From = parseDay(f.Errors, "from", f.From)
	if t := parseDay(f.Errors, "to", f.To); !t.IsZero() {
		q.To = t.AddDate(0, 0, 1) // to the end of that day
	}
	q.After, _ = strconv.ParseInt(v.Get("after"), 10, 64)
	q.Before, _ = strconv.ParseInt(v.Get("before"), 10, 64)
	return auditSearch{filter: f, query: q}
}

// oneLine trims s, drops control characters and caps its length.
func oneLine(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > limit {
		s = s[:limit]
	}
	return strings.ToValidUTF8(s, "")
}

// values writes the filters back as a query string (without the page).
func (s auditSearch) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"actor": s.filter.Actor, "action": s.filter.Action,
		"outcome": s.filter.Outcome, "from": s.filter.From, "to": s.filter.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// auditLog is GET /admin/audit.
func (a *app) auditLog(c echo.Context) error {
	ctx := c.Request().Context()
	s := parseAuditSearch(c.QueryParams())
	page, err := a.store.SearchAudit(ctx, s.query)
	if err != nil {
		return err
	}
	actions, err := a.store.AuditActions(ctx)
	if err != nil {
		return err
	}
	base := a.url(RouteAudit)
	vals := s.values()
	p := views.AuditPage{
		Layout: a.layout(c, "Audit log", "audit"), Action: base, Filter: s.filter, Actions: actions,
		Searched: len(vals) > 0, ClearURL: base, ExportURL: withQuery(a.url(RouteAuditCSV), vals),
	}
	for _, o := range auditOutcomes {
		p.Outcomes = append(p.Outcomes, views.Option{Value: o, Label: o})
	}
	for _, e := range page.Entries {
		p.Rows = append(p.Rows, auditRow(viewerZone(c), e))
	}
	if page.Next != 0 {
		v := s.values()
		v.Set("after", strconv.FormatInt(page.Next, 10))
		p.NextURL = withQuery(base, v)
	}
	if page.Prev != 0 {
		v := s.values()
		v.Set("before", strconv.FormatInt(page.Prev, 10))
		p.PrevURL = withQuery(base, v)
	}
	return a.render(c, http.StatusOK, views.Audit(p))
}

func auditRow(loc *time.Location, e db.AuditEntry) views.AuditRow {
	actor := e.ActorEmail
	if actor == "" {
		actor = "system"
	}
	hash := e.Hash
	if len(hash) > 12 {
		hash = hash[:12]
	}
	return views.AuditRow{ID: e.ID, At: e.At, When: when(loc, e.At), Actor: actor, ActorID: e.ActorID, Action: e.Action, Target: e.Target,
		Outcome: e.Outcome, IP: e.IP, RequestID: e.RequestID, Details: e.Details, Hash: hash}
}

var auditCSVHeader = []string{"id", "at", "actor_id", "actor_email", "action", "target", "outcome", "ip",
	"request_id", "details", "hash"}

// auditCSV streams every entry the filters select, newest first, as RFC
// 4180 CSV with formula cells neutralised; the download is audited before
// it starts, one export per user at a time, like the links export.
func (a *app) auditCSV(c echo.Context) error {
	u := currentUser(c)
	if !a.exports.acquire(u.ID) {
		return echo.NewHTTPError(http.StatusTooManyRequests, "an export is already running")
	}
	defer a.exports.release(u.ID)
	s := parseAuditSearch(c.QueryParams())
	s.query.After, s.query.Before = 0, 0
	ctx := c.Request().Context()
	audit := a.auditEntry(c, "audit.export")
	audit.Target = "audit_log"
	audit.Details = "csv " + s.values().Encode()
	if err := a.store.Audit(ctx, audit); err != nil {
		return err
	}
	a.startDownload(c, "text/csv; charset=utf-8", "paylinks-audit", "csv")
	out, err := newCSVStream(c.Response(), auditCSVHeader)
	if err != nil {
		return err
	}
	row := make([]string, 0, len(auditCSVHeader))
	err = a.store.StreamAudit(ctx, s.query, func(e db.AuditEntry) error {
		actorID := ""
		if e.ActorID != 0 {
			actorID = strconv.FormatInt(e.ActorID, 10)
		}
		row = append(row[:0], strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), actorID, e.ActorEmail,
			e.Action, e.Target, e.Outcome, e.IP, e.RequestID, e.Details, e.Hash)
		return out.Row(row)
	})
	out.End(ctx, a.log, "audit export", err)
	return nil
}
