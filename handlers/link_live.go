package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/views"
)

// linkLive serves the link page's live fragment: its status badge, flags,
// action area and timeline, which static/js/app.js swaps into the page every 1.5 s
// while the tab is visible. A client sending the version it has (?v=) gets
// 204 when nothing changed, so polling costs one indexed read. Without
// JavaScript the page is simply a page.
func (a *app) linkLive(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	version, err := a.store.LinkVersion(ctx, id)
	if err != nil {
		return err
	}
	if v := c.QueryParam("v"); v != "" && v == version {
		return c.NoContent(http.StatusNoContent)
	}
	l, err := a.store.LinkByID(ctx, id)
	if err != nil {
		return err
	}
	events, err := a.store.LinkTimeline(ctx, id)
	if err != nil {
		return err
	}
	p := views.LinkLiveFragment{Version: version, Status: string(l.Status), Flags: linkFlags(l)}
	if p.Actions, err = a.linkActions(c, l, nil); err != nil {
		return err
	}
	p.Timeline = a.timeline(c, events)
	return a.render(c, http.StatusOK, views.LinkLive(p))
}
