package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/static"
	"github.com/paylinks/paylinks/views"
)

// render writes component into a pooled buffer first, so a failed render
// never sends half a page, then sends it with status.
func (a *app) render(c echo.Context, status int, component templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := component.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	c.Response().Header().Add(echo.HeaderVary, "HX-Request")
	return c.HTMLBlob(status, buf.Bytes())
}

// layout builds the chrome for a page.
func (a *app) layout(c echo.Context, title, active string) views.Layout {
	l := views.Layout{
		Title:       title,
		CSRF:        csrfToken(c),
		SandboxMode: a.opts.SandboxMode,
		Active:      active,
		Assets:      views.Assets{CSS: static.URL("css/app.css"), JS: static.URL("js/app.js"), HTMX: static.URL("js/htmx.min.js")},
		Nav: views.Nav{
			Home:             a.url(RouteHome),
			Links:            a.url(RouteLinks),
			Account:          a.url(RouteAccount),
			Users:            a.url(RouteUsers),
			Settings:         a.url(RouteSettings),
			Events:           a.url(RouteEvents),
			EmailTemplate:    a.url(RouteEmailTemplate),
			Mailbox:          a.url(RouteMailbox),
			Audit:            a.url(RouteAudit),
			APIKeys:          a.url(RouteAPIKeys),
			WebhookEndpoints: a.url(RouteWebhookEndpoints),
			Logout:           a.url(RouteLogout),
			Login:            a.url(RouteLogin),
		},
	}
	l.Brand = a.viewBrand(a.brand(c.Request().Context()))
	if u := currentUser(c); u != nil {
		l.User = &views.Viewer{Name: u.Name, Email: u.Email, Role: string(u.Role)}
		l.Flashes = a.takeFlashes(c)
		if reason, since := a.store.WriteFault(); reason != "" && u.Role.AtLeast(paylink.RoleAdmin) {
			l.StorageFault = reason + " (since " + when(viewerZone(c), since) + ")"
		}
	}
	return l
}

// url builds a path from the route table.
func (a *app) url(name string, params ...any) string {
	return a.echo.Reverse(name, params...)
}

// redirect answers a successful POST with 303 See Other (HX-Redirect for htmx).
func (a *app) redirect(c echo.Context, target string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// flash queues a message for the next page of the signed-in user.
func (a *app) flash(c echo.Context, kind, text string) error {
	sess := currentSession(c)
	if sess == nil {
		return nil
	}
	sess.AddFlash(kind + "|" + text)
	return sess.Save(c.Request(), c.Response())
}

// takeFlashes reads and clears the pending messages.
func (a *app) takeFlashes(c echo.Context) []views.Flash {
	sess := currentSession(c)
	if sess == nil {
		return nil
	}
	raw := sess.Flashes()
	if len(raw) == 0 {
		return nil
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		logFrom(c.Request().Context(), a.log).Error("clear flashes", "err", err)
	}
	out := make([]views.Flash, 0, len(raw))
	for _, r := range raw {
		s, _ := r.(string)
		kind, text, _ := strings.Cut(s, "|")
		out = append(out, views.Flash{Kind: kind, Text: text})
	}
	return out
}

// safeNext accepts only a local absolute path, so ?next= cannot redirect
// off-site (no scheme, no host, no //, no backslash).
func safeNext(next, fallback string) string {
	if !localPath(next) {
		return fallback
	}
	// Decoded once more, it must still be a local path: browsers and
	// proxies disagree on what an encoded slash or backslash means.
	if dec, err := url.PathUnescape(next); err != nil || !localPath(dec) {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return fallback
	}
	return next
}

// isHTMX reports a request made by htmx.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// wantsFragment reports an htmx request for just the part it targets (a
// boosted request loads a whole page).
func wantsFragment(c echo.Context) bool {
	return isHTMX(c) && c.Request().Header.Get("HX-Boosted") == ""
}

// hasRole reports whether the signed-in user holds every right of r.
func hasRole(c echo.Context, r paylink.Role) bool {
	u := currentUser(c)
	return u != nil && u.Role.AtLeast(r)
}

// parseDay reads a YYYY-MM-DD filter; a bad one is zero with a message in
// errs under name, beside its field.
func parseDay(errs views.FieldErrors, name, val string) time.Time {
	if val == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, val)
	if err != nil {
		errs[name] = "Use a date like 2026-11-25."
		return time.Time{}
	}
	return t
}

// localPath reports whether p is a path on this site: it starts with one
// "/" not followed by another "/" or "\\", and holds no backslash and no
// control character (browsers drop tabs and newlines, which could turn
// "/\t/evil.example" into "//evil.example").
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return false
	}
	return !strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f })
}
