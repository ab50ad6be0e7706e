package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/views"
)

// sessionHandle names a session in pages and URLs. The id itself is the
// bearer secret the cookie carries, so it never appears in HTML.
func sessionHandle(id string) string {
	sum := sha256.Sum256([]byte("paylinks session handle\x00" + id))
	return hex.EncodeToString(sum[:16])
}

// sessionsSection lists the signed-in user's sessions, this browser marked.
func (a *app) sessionsSection(c echo.Context) (views.SessionsSection, error) {
	u := currentUser(c)
	rows, err := a.store.ListUserSessions(c.Request().Context(), u.ID)
	if err != nil {
		return views.SessionsSection{}, err
	}
	current := ""
	if sess := currentSession(c); sess != nil {
		current = sess.ID
	}
	s := views.SessionsSection{EndOthersURL: a.url(RouteAccountSessionsEndOthers)}
	for _, r := range rows {
		s.Rows = append(s.Rows, views.SessionRow{
			Device: describeUserAgent(r.UserAgent), IP: r.IP, CreatedAt: when(viewerZone(c), r.CreatedAt), LastSeenAt: when(viewerZone(c), r.LastSeenAt),
			Current: r.ID == current, EndURL: a.url(RouteAccountSessionEnd, sessionHandle(r.ID)),
		})
	}
	return s, nil
}

// accountSecurity is the account page's two-factor and sessions sections.
func (a *app) accountSecurity(c echo.Context) (views.AccountSecurity, error) {
	tf, err := a.twoFactorSection(c.Request().Context(), currentUser(c), nil)
	if err != nil {
		return views.AccountSecurity{}, err
	}
	ss, err := a.sessionsSection(c)
	return views.AccountSecurity{TwoFactor: tf, Sessions: ss}, err
}

// endSession signs one of the user's other browsers out.
func (a *app) endSession(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	rows, err := a.store.ListUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	want := c.Param("sid")
	var target *db.Session
	for i := range rows {
		if subtle.ConstantTimeCompare([]byte(sessionHandle(rows[i].ID)), []byte(want)) == 1 {
			target = &rows[i]
		}
	}
	back := func(kind, text string) error {
		if err := a.flash(c, kind, text); err != nil {
			return err
		}
		return a.redirect(c, a.url(RouteAccount))
	}
	if target == nil {
		return back("info", "That session had already ended.")
	}
	if target.ID == currentSession(c).ID {
		return back("info", "To end this browser's session, use Sign out.")
	}
	device := describeUserAgent(target.UserAgent)
	audit := a.auditEntry(c, "session.end")
	audit.Details = "device=" + device + " ip=" + target.IP
	if err := a.store.EndUserSession(ctx, u.ID, target.ID, audit); errors.Is(err, db.ErrNotFound) {
		return back("info", "That session had already ended.")
	} else if err != nil {
		return err
	}
	return back("ok", "Signed out "+device+".")
}

// endOtherSessions signs every other browser of the user out.
func (a *app) endOtherSessions(c echo.Context) error {
	u := currentUser(c)
	n, err := a.store.EndOtherSessions(c.Request().Context(), u.ID, currentSession(c).ID, a.auditEntry(c, "session.end_others"))
	if err != nil {
		return err
	}
	msg := "You were signed out everywhere else."
	if n == 0 {
		msg = "You were not signed in anywhere else."
	}
	if err := a.flash(c, "ok", msg); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteAccount))
}

// describeUserAgent turns a User-Agent into "Firefox on Windows". It only
// labels a row for its owner; nothing relies on it.
func describeUserAgent(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	has := func(s string) bool { return strings.Contains(ua, s) }
	browser := ""
	switch {
	case has("Edg/") || has("EdgA/") || has("EdgiOS/"):
		browser = "Edge"
	case has("OPR/") || has("Opera"):
		browser = "Opera"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Firefox/") || has("FxiOS/"):
		browser = "Firefox"
	case has("Chrome/") || has("CriOS/") || has("Chromium/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	case has("curl/"):
		browser = "curl"
	case has("Go-http-client"):
		browser = "Go HTTP client"
	}
	system := ""
	switch {
	case has("iPhone"):
		system = "iPhone"
	case has("iPad"):
		system = "iPad"
	case has("Android"):
		system = "Android"
	case has("Windows"):
		system = "Windows"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Mac OS X") || has("Macintosh"):
		system = "macOS"
	case has("Linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "Browser on " + system
	}
	return "Unknown browser"
}
