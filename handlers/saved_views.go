package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// Saved views: a name for the list's search with its filters, sort and
// tab (its query string, as the list writes it back). They sit beside the
// tabs; the owner may delete theirs; an admin may share any with the team.
// Saving, sharing and deleting are audited.

const maxViewName = 60

// savedViewForm is the Save this view form.
type savedViewForm struct {
	Name  string `form:"name"`
	Query string `form:"query"`
}

// savedViews gives the list page p (search s) its saved views, the one
// shown marked, and the form that saves s.
func (a *app) savedViews(c echo.Context, s linkSearch, p *views.LinksPage) error {
	u := currentUser(c)
	if u == nil {
		return nil
	}
	vs, err := a.store.SavedViews(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	current := s.values().Encode()
	admin := u.Role.AtLeast(paylink.RoleAdmin)
	for _, v := range vs {
		item := views.SavedView{ID: v.ID, Name: v.Name, URL: withQuery(a.url(RouteLinks), mustQuery(v.Query)),
			Shared: v.Shared, Current: v.Query == current, Owner: v.OwnerName}
		if v.OwnerID == u.ID {
			item.DeleteURL = a.url(RouteSavedViewDelete, v.ID)
		}
		if admin {
			item.ShareURL = a.url(RouteSavedViewShare, v.ID)
		}
		p.SavedViews = append(p.SavedViews, item)
	}
	p.SaveView = &views.SaveViewForm{Action: a.url(RouteSavedViewCreate), Query: current}
	return nil
}

// mustQuery reads a stored query string (written by linkSearch.values).
func mustQuery(q string) url.Values {
	v, _ := url.ParseQuery(q)
	return v
}

// saveView saves the search posted as a view of the user's.
func (a *app) saveView(c echo.Context) error {
	var f savedViewForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	v, _ := url.ParseQuery(f.Query)
	s := parseLinkSearch(v) // only what the list understands is kept
	back := withQuery(a.url(RouteLinks), s.values())
	name := strings.TrimSpace(f.Name)
	switch {
	case name == "":
		return a.flashBack(c, back, "error", "Give the view a name to save it.")
	case utf8.RuneCountInString(name) > maxViewName:
		return a.flashBack(c, back, "error", "A view's name can be at most 60 characters.")
	}
	u := currentUser(c)
	audit := a.auditEntry(c, "saved_view.create")
	audit.Details = name + ": " + s.values().Encode()
	if _, err := a.store.CreateSavedView(c.Request().Context(), db.SavedView{OwnerID: u.ID, Name: name, Query: s.values().Encode()}, audit); err != nil {
		return err
	}
	return a.flashBack(c, back, "ok", "Saved the view “"+name+"”. It is beside the tabs.")
}

// deleteView deletes one of the user's own views.
func (a *app) deleteView(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	v, err := a.store.SavedViewByID(ctx, id)
	if err != nil {
		return err
	}
	u := currentUser(c)
	if v.OwnerID != u.ID {
		return echo.NewHTTPError(http.StatusForbidden, "only the person who saved a view can delete it")
	}
	audit := a.auditEntry(c, "saved_view.delete")
	audit.Details = v.Name
	if err := a.store.DeleteSavedView(ctx, id, u.ID, audit); err != nil {
		return err
	}
	return a.flashBack(c, a.url(RouteLinks), "ok", "Deleted the view “"+v.Name+"”.")
}

// shareView (admins) shows a view to the whole team, or stops showing it.
func (a *app) shareView(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	v, err := a.store.SavedViewByID(ctx, id)
	if err != nil {
		return err
	}
	shared := c.FormValue("shared") == "1"
	action, msg := "saved_view.share", "Shared the view “"+v.Name+"” with the team."
	if !shared {
		action, msg = "saved_view.unshare", "The view “"+v.Name+"” is no longer shared."
	}
	audit := a.auditEntry(c, action)
	audit.Details = v.Name
	if err := a.store.ShareSavedView(ctx, id, shared, audit); err != nil {
		return err
	}
	return a.flashBack(c, withQuery(a.url(RouteLinks), mustQuery(v.Query)), "ok", msg)
}

// flashBack queues a message and goes back to the list (303).
func (a *app) flashBack(c echo.Context, back, kind, text string) error {
	if err := a.flash(c, kind, text); err != nil {
		return err
	}
	return a.redirect(c, back)
}
