package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// Keys of values handlers leave in the Echo context.
const (
	ctxUser    = "paylinks.user"
	ctxSession = "paylinks.session"
)

type loggerKey struct{}

// logFrom returns the request's logger (with its request id) or fallback.
func logFrom(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// securityHeaders sets the headers every response carries and a fresh CSP
// nonce, handed to templ through the request context.
func (a *app) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	secure := a.opts.secure()
	return func(c echo.Context) error {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		nonce := base64.RawStdEncoding.EncodeToString(b) // 24 characters, 144 bits
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'nonce-"+nonce+"' 'strict-dynamic'; "+
			"style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "+
			"frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
		h.Set("X-Frame-Options", "DENY")
		if secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		r := c.Request()
		c.SetRequest(r.WithContext(templ.WithNonce(r.Context(), nonce)))
		return next(c)
	}
}

// requestLogger puts a logger carrying the request id into the context and
// writes one line per request.
func (a *app) requestLogger(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Response().Header().Get(echo.HeaderXRequestID)
		l := a.log.With("request_id", id)
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), loggerKey{}, l)))
		err := next(c)
		if err != nil {
			c.Error(err) // commit the error response so the line has its status
		}
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
			if c.Get(ctxBusy) != nil { // answered busy on purpose (handlers/admission.go)
				level = slog.LevelWarn
			}
		}
		l.Log(r.Context(), level, "request",
			"method", r.Method, "route", c.Path(), "path", r.URL.Path, "status", status,
			"latency_ms", float64(time.Since(start).Microseconds())/1000, "bytes", c.Response().Size,
			"ip", c.RealIP())
		return nil
	}
}

// currentUser is the signed-in user, or nil.
func currentUser(c echo.Context) *db.User {
	u, _ := c.Get(ctxUser).(*db.User)
	return u
}

// currentSession is the signed-in session, or nil.
func currentSession(c echo.Context) *sessions.Session {
	s, _ := c.Get(ctxSession).(*sessions.Session)
	return s
}

// loadUser resolves the session cookie to a user. Expired sessions are
// deleted; disabled users are signed out. Anonymous requests pass through.
func (a *app) loadUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		sess, err := a.sessions.Get(r, a.opts.cookieName("session"))
		if err != nil {
			return err
		}
		row, ok := sessionRow(sess)
		if !ok {
			return next(c)
		}
		now := a.now()
		if expired(row, now, a.opts.IdleTimeout, a.opts.AbsoluteTimeout) {
			if err := a.store.DeleteSession(r.Context(), row.ID, nil); err != nil {
				return err
			}
			c.Set("paylinks.expired", true)
			return next(c)
		}
		u, err := a.store.UserByID(r.Context(), row.UserID)
		if err != nil || u.Disabled {
			if err := a.store.DeleteSession(r.Context(), row.ID, nil); err != nil {
				return err
			}
			return next(c)
		}
		// Record activity at most once a minute: idle precision is minutes.
		if now.Sub(row.LastSeenAt) > time.Minute {
			if err := a.store.TouchSession(r.Context(), row.ID, now); err != nil {
				return err
			}
		}
		c.Set(ctxUser, &u)
		c.Set(ctxSession, sess)
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// requireSignedIn sends anonymous visitors to the sign-in page.
func (a *app) requireSignedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if u == nil {
			target := a.url(RouteLogin)
			if c.Request().Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			if c.Get("paylinks.expired") == true {
				sep := "?"
				if strings.Contains(target, "?") {
					sep = "&"
				}
				target += sep + "expired=1"
			}
			return a.redirect(c, target)
		}
		// A generated password must be replaced before anything else.
		if u.MustChangePassword && c.Path() != a.echo.Reverse(RouteAccount) && c.Path() != a.echo.Reverse(RouteAccountPassword) && c.Path() != a.echo.Reverse(RouteLogout) {
			return a.redirect(c, a.url(RouteAccount))
		}
		// When an admin requires two-factor sign-in, enrolment comes next.
		if enrol, err := a.needsTOTPEnrolment(c, u); err != nil {
			return err
		} else if enrol {
			return a.redirect(c, a.url(RouteAccount))
		}
		return next(c)
	}
}

// requireRole refuses users below min with 403 and audits the refusal.
func (a *app) requireRole(min paylink.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := currentUser(c)
			if u == nil || !u.Role.AtLeast(min) {
				e := a.auditEntry(c, "authz.denied")
				e.Outcome = "denied"
				e.Target = c.Request().Method + " " + c.Request().URL.Path
				if err := a.store.Audit(c.Request().Context(), e); err != nil {
					logFrom(c.Request().Context(), a.log).Error("audit refusal", "err", err)
				}
				return echo.NewHTTPError(http.StatusForbidden)
			}
			return next(c)
		}
	}
}

// csrf is Echo's CSRF middleware configured per docs/security.md A4: Sec-Fetch-Site
// first, then a double-submit token read from the form or the header.
func (a *app) csrf() (echo.MiddlewareFunc, error) {
	return middleware.CSRFConfig{
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		ContextKey:     "csrf",
		CookieName:     a.opts.cookieName("csrf"),
		CookiePath:     "/",
		CookieMaxAge:   int(a.opts.AbsoluteTimeout / time.Second),
		CookieSecure:   a.opts.secure(),
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
	}.ToMiddleware()
}

// bindCSRF ties the token to the session: when Echo validated a token (not
// the Sec-Fetch-Site path), a signed-in request must also carry its own
// session's token, so one user's token is useless with another's session.
func (a *app) bindCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if c.Get("csrf") == middleware.CSRFUsingSecFetchSite {
			return next(c)
		}
		sess := currentSession(c)
		if sess == nil {
			return next(c)
		}
		row, _ := sessionRow(sess)
		sent := c.Request().Header.Get("X-CSRF-Token")
		if sent == "" {
			sent = c.FormValue("_csrf")
		}
		if subtle.ConstantTimeCompare([]byte(sent), []byte(row.CSRFToken)) != 1 {
			return echo.NewHTTPError(http.StatusForbidden, "invalid csrf token")
		}
		return next(c)
	}
}

// csrfToken is the token forms render: the session's own when signed in,
// otherwise Echo's.
func csrfToken(c echo.Context) string {
	if sess := currentSession(c); sess != nil {
		if row, ok := sessionRow(sess); ok {
			return row.CSRFToken
		}
	}
	t, _ := c.Get("csrf").(string)
	return t
}

// auditEntry starts an audit entry with the request's actor, IP and id.
func (a *app) auditEntry(c echo.Context, action string) db.AuditEntry {
	e := db.AuditEntry{
		Action:    action,
		IP:        c.RealIP(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
	if u := currentUser(c); u != nil {
		e.ActorID, e.ActorEmail = u.ID, u.Email
	}
	return e
}

// sameOrigin refuses a state-changing request that a browser says came
// from elsewhere, before any token is looked at: Sec-Fetch-Site other than
// same-origin or none, or an Origin that is not this site's (the public
// URL's, or the Host the request was sent to). A request with neither
// header (curl, an old browser) goes on to the CSRF token check. Defence
// in depth: the token alone already stops a forged form
// (docs/security.md A4).
func (a *app) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
		default:
			return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused")
		}
		if origin := r.Header.Get("Origin"); origin != "" && !a.ownOrigin(origin, r.Host, c.Scheme()) {
			return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
		}
		return next(c)
	}
}

// ownOrigin reports whether origin (scheme://host[:port]) is this site's:
// the public URL's, or the host the request was sent to under the scheme
// it arrived on.
func (a *app) ownOrigin(origin, host, scheme string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" {
		return false // "null", or not an origin at all
	}
	if strings.EqualFold(u.Scheme, a.opts.BaseURL.Scheme) && strings.EqualFold(u.Host, a.opts.BaseURL.Host) {
		return true
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, host)
}
