package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/views"
)

// statusFor maps an error to the status the user sees, in one table.
func statusFor(err error) int {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.Is(err, db.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, db.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, auth.ErrHasherBusy), errors.Is(err, db.ErrStorage):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorText is the generic title and message for each status. Nothing from
// the error itself reaches the page.
func errorText(status int) (title, msg string) {
	switch status {
	case http.StatusBadRequest:
		return "Bad request", "The request could not be understood. Go back, reload the page and try again."
	case http.StatusForbidden:
		return "Not allowed", "Your account does not have access to this page or action. If the form was open for a long time, reload it and try again."
	case http.StatusNotFound:
		return "Not found", "There is nothing at this address."
	case http.StatusMethodNotAllowed:
		return "Method not allowed", "This address does not accept that kind of request."
	case http.StatusConflict:
		return "Conflict", "That change clashes with something that already exists."
	case http.StatusRequestEntityTooLarge:
		return "Too large", "What you sent is larger than paylinks accepts."
	case http.StatusTooManyRequests:
		return "Slow down", "Too many requests in a short time. Wait a minute and try again."
	case http.StatusServiceUnavailable:
		return "Busy", "paylinks is busy or a service it needs is unavailable. Try again in a moment."
	}
	if status >= 500 {
		return "Something went wrong", "paylinks could not complete the request. Nothing you did caused this; the error has been logged."
	}
	return http.StatusText(status), "The request could not be completed."
}

// requestTimeout ends a request's work (its database queries, calls out)
// well before the server's 30 s write deadline, so the "Busy" page it leads
// to still reaches the browser instead of a dropped connection that the
// browser would silently send again.
const requestTimeout = 20 * time.Second

// handleError is the single HTTP error handler: status from the error, a log
// line (Error for 5xx, Warn for 4xx), and a templ page with that status.
func (a *app) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, context.Canceled) && errors.Is(c.Request().Context().Err(), context.Canceled) {
		// The client went away (closed the tab, gave up): nobody reads an
		// answer, and it is not a server error.
		logFrom(c.Request().Context(), a.log).Info("client went away", "err", err)
		return
	}
	if p := c.Request().URL.Path; p == apiPrefix || strings.HasPrefix(p, apiPrefix+"/") {
		_ = a.writeProblem(c, err) // the API answers in problems, never pages (405s and unknown routes come here)
		return
	}
	status := statusFor(err)
	// The request's context may already be cancelled (ContextTimeout ends it
	// when the handler returns); the error page must still render.
	c.SetRequest(c.Request().WithContext(context.WithoutCancel(c.Request().Context())))
	l := logFrom(c.Request().Context(), a.log)
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	l.Log(c.Request().Context(), level, "request failed", "status", status, "err", err)

	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if status == http.StatusMethodNotAllowed {
		c.Response().Header().Set(echo.HeaderAllow, "GET, POST")
	}
	title, msg := errorText(status)
	var se *db.StorageError
	if errors.As(err, &se) {
		// The disk refused the write: say so, and that nothing was saved.
		title = "Nothing was saved"
		msg = "paylinks cannot save anything right now: " + se.Reason + ". Nothing of this request was saved. Go back and try again in a few minutes; an admin sees this on every page until it is fixed."
		c.Response().Header().Set("Retry-After", "60")
	}
	page := views.ErrorPage{
		Layout:    a.layout(c, title, ""),
		Status:    status,
		Title:     title,
		Message:   msg,
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
	if rerr := a.render(c, status, views.Error(page)); rerr != nil {
		l.Error("render error page", "err", rerr)
		_ = c.String(status, title)
	}
}
