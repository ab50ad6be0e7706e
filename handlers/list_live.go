package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// The links list is a live work queue: while it is open, app.js asks every
// 10 s (not while the tab is hidden) for the rows on screen by id, with
// the version each was drawn at, and for how many links matching the list
// were made since it was drawn. The answer holds only the rows that
// changed, which take the place of theirs; new links are not slipped in
// above the row under the cursor: a bar offers to show them (the first
// page again). Without JavaScript the list is a page: reload it.
//
// The question is cheap whatever the search: the rows are read by id, and
// the count tests only links made since (db.CountNewLinks), never the
// search tiers again (docs/performance.md).

// newLinksCap: more new links than this read "100+".
const newLinksCap = 100

// searchHeader marks a search form submitted (Enter, the Search button),
// as app.js sends it with htmx, apart from live search as staff type.
const searchHeader = "X-Search-Submit"

// searchSubmitted reports a search that staff submitted (not typed).
func searchSubmitted(c echo.Context) bool { return c.Request().Header.Get(searchHeader) == "1" }

// listRow is one link as the list shows it to the signed-in user: the
// boxes of the selection's actions, and the checkout URL to copy when
// the link page would offer it (actionsFor: only an open link, to every
// role; never a held host, nor a link past its expiry that the sweeper has
// not marked yet).
func (a *app) listRow(c echo.Context, l db.Link) views.LinkRow {
	r := a.linkRow(l)
	u := currentUser(c)
	canWrite := u != nil && u.Role.AtLeast(paylink.RoleFinance)
	now := a.now()
	r.Emailable = canWrite && outbox.Blocker(l, now) == ""
	// An open link past its expiry is as good as expired (the sweeper
	// has not marked it yet): nothing to cancel.
	r.Cancellable = canWrite && l.Status.Cancellable() && (l.Status != paylink.StatusOpen || r.Emailable)
	role := paylink.RoleViewer
	if u != nil {
		role = u.Role
	}
	if actionsFor(l.Status, l.HeldCheckoutHost != "", role)[actCheckout] && l.CheckoutURL != "" &&
		(l.ExpiresAt.IsZero() || l.ExpiresAt.After(now)) {
		r.CheckoutURL = l.CheckoutURL
	}
	r.Version = rowVersion(l)
	return r
}

// rowVersion changes whenever the link's row may: the link's last change.
func rowVersion(l db.Link) string { return versionOf(l.UpdatedAt) }

// versionOf is the version of a link last changed at t.
func versionOf(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 36) }

// listLive gives the page p of search s what its live updates ask with:
// the search, the newest link now (new links are those after it), and
// where "show" goes (the first page).
func (a *app) listLive(c echo.Context, s linkSearch, p *views.LinksPage) error {
	last, err := a.store.LastLinkID(c.Request().Context())
	if err != nil {
		return err
	}
	v := s.values()
	p.ShowNewURL = withQuery(a.url(RouteLinks), v)
	v.Set("since", strconv.FormatInt(last, 10))
	if p.Selectable() {
		v.Set("sel", "1") // the table has a column of boxes
	}
	p.LiveURL = withQuery(a.url(RouteLinksLive), v)
	return nil
}

// maxLiveRows bounds the rows one live question may ask about (a page).
const maxLiveRows = linksPerPage

// linksLive answers a list's live question (see the top of this file):
// rows=ID:VERSION,… are the rows on screen; since is the newest link when
// the list was drawn, and the search parameters say which new links count.
// 204 when nothing changed.
func (a *app) linksLive(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	type onScreen struct {
		id      int64
		version string
	}
	var rows []onScreen
	for _, part := range strings.Split(q.Get("rows"), ",") {
		idText, version, _ := strings.Cut(part, ":")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || id <= 0 {
			continue
		}
		rows = append(rows, onScreen{id, version})
		if len(rows) == maxLiveRows {
			break
		}
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	// Versions first (two columns), whole rows only for the rows that
	// changed: usually none.
	versions, err := a.store.LinkVersions(ctx, ids)
	if err != nil {
		return err
	}
	var changed []int64
	for _, r := range rows {
		if v, ok := versions[r.id]; ok && versionOf(v) != r.version {
			changed = append(changed, r.id)
		}
	}
	got, err := a.store.ListLinksByIDs(ctx, changed)
	if err != nil {
		return err
	}
	byID := make(map[int64]db.Link, len(got))
	for _, l := range got {
		byID[l.ID] = l
	}
	p := views.LinksLive{Selectable: q.Get("sel") == "1"}
	for _, id := range changed {
		if l, ok := byID[id]; ok {
			p.Rows = append(p.Rows, a.listRow(c, l))
		}
	}
	if since, err := strconv.ParseInt(q.Get("since"), 10, 64); err == nil && since >= 0 {
		if s := parseLinkSearch(q); !s.refused {
			n, err := a.store.CountNewLinks(ctx, s.query, since, newLinksCap)
			if err != nil {
				return err
			}
			if n > 0 {
				p.New = formatCount(n, newLinksCap) + " new link"
				if n > 1 {
					p.New += "s"
				}
			}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if len(p.Rows) == 0 && p.New == "" {
		return c.NoContent(http.StatusNoContent)
	}
	return a.render(c, http.StatusOK, views.LinksLiveRows(p))
}
