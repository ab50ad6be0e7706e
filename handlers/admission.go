package handlers

// Admission: a few kinds of request cost far more than the others (a
// broad substring search, the deferred counts, the exports, a filtered
// audit search), and on two cores two of them at once already take the
// machine. Left alone, they queue every cheap request (a link page, an
// exact reference, a webhook) behind them until those time out. So the
// expensive ones share a few slots (Options.ExpensiveConcurrency; 2 by
// default): a request that finds them full waits a moment
// (admissionWait), then is answered "busy, try again in a moment" at
// once, and cheap requests never wait for a slot at all.
//
// Classes, decided up front from the route and query (admissionClass),
// except for the links list's search: whether a term needs the substring
// tier or a walk is known only once its exact and prefix matches are
// read, so the list search takes its slot from inside the store, through
// db.LinkQuery.Expensive, just before that work starts. An exact
// reference or a prefix that fills the page never takes one.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/views"
)

// admissionWait is how long an expensive request waits for a slot before
// it is answered busy; retryAfterBusy is the Retry-After it then carries.
const (
	admissionWait  = 300 * time.Millisecond
	retryAfterBusy = 5 // seconds
)

// errBusy: the expensive class was full; the request is answered busy.
var errBusy = errors.New("busy: the expensive requests' slots are all taken")

// Expensive classes, as counted in paylinks_busy_refusals_total.
const (
	classSearch = "search"
	classCount  = "count"
	classExport = "export"
	classAudit  = "audit"
)

// admission is the expensive class's slots.
type admission struct {
	slots chan struct{}
}

func newAdmission(n int) *admission {
	return &admission{slots: make(chan struct{}, max(n, 1))}
}

// acquire takes a slot, waiting at most admissionWait; errBusy otherwise.
func (ad *admission) acquire(ctx context.Context) (release func(), err error) {
	select {
	case ad.slots <- struct{}{}:
		return func() { <-ad.slots }, nil
	default:
	}
	t := time.NewTimer(admissionWait)
	defer t.Stop()
	select {
	case ad.slots <- struct{}{}:
		return func() { <-ad.slots }, nil
	case <-t.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// admissionClass is the expensive class of a request known from its
// route and query alone, or "" (cheap, or decided later: the list search).
func admissionClass(c echo.Context) string {
	q := c.Request().URL.Query()
	switch c.Path() {
	case "/links":
		if q.Get("tab_counts") == "1" || q.Get("count") != "" {
			return classCount
		}
	case "/links/count":
		return classCount
	case "/links/export.csv", "/links/export.xlsx", "/admin/audit/export.csv":
		return classExport
	case "/admin/audit":
		// The first page of the whole log is one indexed read; a filter
		// may scan the log.
		for k := range q {
			if k != "after" && k != "before" {
				return classAudit
			}
		}
	}
	return ""
}

// admit is the middleware: a request of an expensive class holds a slot
// while it runs, or is answered busy. It runs after the user is known
// (the route's own middleware), so a signed-out request is sent to sign
// in, never told it is busy.
func (a *app) admit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		class := admissionClass(c)
		if class == "" || currentUser(c) == nil {
			return next(c)
		}
		release, err := a.admission.acquire(c.Request().Context())
		if err != nil {
			return a.busy(c, class, err)
		}
		defer release()
		return next(c)
	}
}

// lazyAdmission is the list search's slot, taken the first time the store
// says the search is about to do expensive work (db.LinkQuery.Expensive),
// and released by the returned done.
func (a *app) lazyAdmission() (take func(ctx context.Context) error, done func()) {
	var release func()
	take = func(ctx context.Context) error {
		if release != nil {
			return nil
		}
		r, err := a.admission.acquire(ctx)
		if err != nil {
			return err
		}
		release = r
		return nil
	}
	done = func() {
		if release != nil {
			release()
		}
	}
	return take, done
}

// busy answers a request refused for want of a slot: for an htmx request
// a small fragment shown where its answer would have gone (and asking
// again a few seconds later), otherwise a page with 503 and Retry-After.
// A context that ended while waiting is returned as it is.
func (a *app) busy(c echo.Context, class string, err error) error {
	if !errors.Is(err, errBusy) {
		return err
	}
	a.metrics.BusyRefusal(class)
	c.Set(ctxBusy, true)
	h := c.Response().Header()
	h.Set("Retry-After", strconv.Itoa(retryAfterBusy))
	h.Add("Vary", "HX-Request")
	retry := c.Request().URL.RequestURI()
	if wantsFragment(c) {
		// htmx swaps only 2xx answers: the fragment says busy itself.
		switch {
		case c.Path() == "/links/count":
			return a.render(c, http.StatusOK, views.BusyTotal(retry))
		case c.QueryParam("tab_counts") == "1":
			return a.render(c, http.StatusOK, views.BusyTabCounts(retry))
		case c.Path() == "/links":
			return a.render(c, http.StatusOK, views.BusyResults(retry))
		}
	}
	title, msg := busyText(class)
	return a.render(c, http.StatusServiceUnavailable, views.Error(views.ErrorPage{
		Layout: a.layout(c, title, ""), Status: http.StatusServiceUnavailable, Title: title, Message: msg,
		RequestID: h.Get(echo.HeaderXRequestID),
	}))
}

// busyText is the busy page's title and message, for a finance clerk.
func busyText(class string) (title, msg string) {
	const later = " Nothing was changed. Try again in a few seconds."
	switch class {
	case classExport:
		return "Busy: export not started", "paylinks is busy with other searches and exports right now, so this export did not start." + later
	case classAudit:
		return "Busy: audit search not run", "paylinks is busy with other searches and exports right now, so this search of the audit log did not run." + later
	}
	return "Busy: search not run", "paylinks is busy with other searches and exports right now, so this search did not run." + later
}

// ctxBusy marks a response answered busy: the request log line is then a
// warning, not an error (handlers/middleware.go).
const ctxBusy = "paylinks.busy"
