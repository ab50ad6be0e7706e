package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// loginFailed is the one message for an unknown email, a wrong password, a
// throttled or a disabled account: the page never tells them apart.
const loginFailed = "Email or password is incorrect, or the account cannot sign in right now."

// Per-account throttling (docs/security.md A2): after freeAttempts failures each
// further one locks the account for a delay that doubles from one second up
// to maxLock. At most about 20 tries an hour get through, never 100, and
// the owner is never locked out for longer than maxLock.
const (
	freeAttempts = 5
	maxLock      = 15 * time.Minute
)

// lockFor is the lock after the given number of consecutive failures.
func lockFor(failures int) time.Duration {
	if failures < freeAttempts {
		return 0
	}
	shift := failures - freeAttempts
	if shift > 20 {
		return maxLock
	}
	return min(time.Second<<shift, maxLock)
}

type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `query:"next"`
}

func (a *app) loginForm(c echo.Context) error {
	if currentUser(c) != nil {
		return a.redirect(c, a.url(RouteHome))
	}
	return a.render(c, http.StatusOK, views.Login(views.LoginPage{
		Layout:    a.layout(c, "Sign in", ""),
		Action:    a.loginAction(c.QueryParam("next")),
		SignedOut: c.QueryParam("signed_out") == "1",
		Expired:   c.QueryParam("expired") == "1",
	}))
}

// loginAction keeps a safe ?next= across the form post.
func (a *app) loginAction(next string) string {
	action := a.url(RouteLoginPost)
	if n := safeNext(next, ""); n != "" {
		action += "?next=" + url.QueryEscape(n)
	}
	return action
}

func (a *app) login(c echo.Context) error {
	var f loginForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	// Echo binds query parameters on GET, DELETE and HEAD only; the form
	// posts ?next= in its action.
	f.Next = c.QueryParam("next")
	f.Email = strings.TrimSpace(f.Email)
	ctx := c.Request().Context()
	fail := func(status int) error {
		return a.render(c, status, views.Login(views.LoginPage{
			Layout: a.layout(c, "Sign in", ""),
			Action: a.loginAction(f.Next),
			Email:  f.Email,
			Error:  loginFailed,
		}))
	}
	if len(f.Password) > auth.MaxPasswordLen {
		// Refused before any hashing: a megabyte password costs nothing.
		return fail(http.StatusBadRequest)
	}
	audit := a.auditEntry(c, "login")
	audit.ActorEmail = truncate(f.Email, 254)
	audit.Outcome = "failed"

	u, err := a.store.UserByEmail(ctx, f.Email)
	switch {
	case errors.Is(err, db.ErrNotFound):
		// The same work and the same answers as a known email, busy too.
		if err := a.hasher.VerifyDummy(ctx, f.Password); errors.Is(err, auth.ErrHasherBusy) {
			return err
		}
		audit.Details = "unknown email"
		if err := a.store.Audit(ctx, audit); err != nil {
			return err
		}
		return fail(http.StatusUnauthorized)
	case err != nil:
		return err
	}
	audit.ActorID = u.ID
	now := a.now()
	if u.Disabled || now.Before(u.LockedUntil) {
		if err := a.hasher.VerifyDummy(ctx, f.Password); errors.Is(err, auth.ErrHasherBusy) { // same cost as a real check
			return err
		}
		if u.Disabled {
			audit.Details = "account disabled"
		} else {
			audit.Outcome, audit.Details = "throttled", "locked until "+u.LockedUntil.Format(time.RFC3339)
		}
		audit.Target = "user:" + strconv.FormatInt(u.ID, 10)
		if err := a.store.Audit(ctx, audit); err != nil {
			return err
		}
		return fail(http.StatusUnauthorized)
	}
	ok, rehash, err := a.hasher.Verify(ctx, f.Password, u.PasswordHash)
	if errors.Is(err, auth.ErrHasherBusy) {
		return err
	}
	if err != nil {
		logFrom(ctx, a.log).Error("verify stored password hash", "user_id", u.ID, "err", err)
	}
	if !ok {
		audit.Details = "wrong password"
		if _, _, err := a.store.RecordLoginFailure(ctx, u.ID, lockFor, audit); err != nil {
			return err
		}
		return fail(http.StatusUnauthorized)
	}
	if rehash {
		if h, err := a.hasher.Hash(ctx, f.Password); err == nil {
			if err := a.store.RehashPassword(ctx, u.ID, u.PasswordHash, h); err != nil {
				logFrom(ctx, a.log).Error("rehash password", "user_id", u.ID, "err", err)
			}
		}
	}
	if pending, err := a.beginSecondFactor(c, u, f.Next, audit); pending || err != nil {
		return err // on to the code step (handlers/totp.go)
	}
	audit.Outcome, audit.Details = "ok", ""
	if err := a.startSession(c, u, audit); err != nil {
		return err
	}
	target := safeNext(f.Next, a.url(RouteHome))
	if u.MustChangePassword {
		target = a.url(RouteAccount)
	}
	return a.redirect(c, target)
}

// startSession signs u in: any session the browser had is deleted, a new id
// and CSRF token are made, and both cookies are set. The audit entry is
// written with the session row.
func (a *app) startSession(c echo.Context, u db.User, audit db.AuditEntry) error {
	ctx := c.Request().Context()
	if old := currentSession(c); old != nil && old.ID != "" {
		if err := a.store.DeleteSession(ctx, old.ID, nil); err != nil {
			return err
		}
	}
	row, err := a.store.CreateSession(ctx, db.Session{
		ID:        randomToken(),
		UserID:    u.ID,
		CSRFToken: randomToken(),
		IP:        c.RealIP(),
		UserAgent: truncate(c.Request().UserAgent(), 200),
	}, audit)
	if err != nil {
		return err
	}
	ck, err := a.sessions.cookie(a.opts.cookieName("session"), row.ID)
	if err != nil {
		return err
	}
	c.SetCookie(ck)
	c.SetCookie(&http.Cookie{
		Name: a.opts.cookieName("csrf"), Value: row.CSRFToken, Path: "/",
		MaxAge: int(a.opts.AbsoluteTimeout / time.Second), Secure: a.opts.secure(),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (a *app) logout(c echo.Context) error {
	sess := currentSession(c)
	audit := a.auditEntry(c, "logout")
	audit.Target = "user:" + strconv.FormatInt(audit.ActorID, 10)
	if err := a.store.DeleteSession(c.Request().Context(), sess.ID, &audit); err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	c.SetCookie(&http.Cookie{Name: sess.Name(), Value: "", Path: "/", MaxAge: -1, Secure: a.opts.secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	c.SetCookie(&http.Cookie{Name: a.opts.cookieName("csrf"), Value: "", Path: "/", MaxAge: -1, Secure: a.opts.secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	c.Response().Header().Set("Clear-Site-Data", `"cache", "cookies", "storage"`)
	return a.redirect(c, a.url(RouteLogin)+"?signed_out=1")
}

// --- first-run setup ---

// hashToken is how setup tokens are stored: never the token itself.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

type setupForm struct {
	Token     string `form:"token"`
	Name      string `form:"name"`
	Email     string `form:"email"`
	Password  string `form:"password"`
	Password2 string `form:"password2"`
}

func (a *app) setupForm(c echo.Context) error {
	token := c.QueryParam("token")
	page := views.SetupPage{Layout: a.layout(c, "Set up paylinks", ""), Action: a.url(RouteSetupPost), Token: token}
	if !a.store.SetupTokenValid(c.Request().Context(), hashToken(token)) {
		page.Invalid = true
		return a.render(c, http.StatusNotFound, views.Setup(page))
	}
	return a.render(c, http.StatusOK, views.Setup(page))
}

func (a *app) setup(c echo.Context) error {
	var f setupForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ctx := c.Request().Context()
	page := views.SetupPage{
		Layout: a.layout(c, "Set up paylinks", ""), Action: a.url(RouteSetupPost),
		Token: f.Token, Name: strings.TrimSpace(f.Name), Email: strings.TrimSpace(f.Email),
	}
	if !a.store.SetupTokenValid(ctx, hashToken(f.Token)) {
		page.Invalid = true
		return a.render(c, http.StatusNotFound, views.Setup(page))
	}
	page.Errors = validateAccount(page.Name, page.Email)
	if msg := checkNewPassword(f.Password, f.Password2); msg != "" {
		page.Errors["password"] = msg
	}
	if len(page.Errors) > 0 {
		return a.render(c, http.StatusUnprocessableEntity, views.Setup(page))
	}
	hash, err := a.hasher.Hash(ctx, f.Password)
	if err != nil {
		return err
	}
	audit := a.auditEntry(c, "setup.first_admin")
	u, err := a.store.CompleteSetup(ctx, hashToken(f.Token), db.NewUser{
		Email: page.Email, Name: page.Name, Role: paylink.RoleAdmin, PasswordHash: hash,
	}, audit)
	if errors.Is(err, db.ErrSetupClosed) {
		page.Invalid = true
		return a.render(c, http.StatusNotFound, views.Setup(page))
	}
	if err != nil {
		return err
	}
	login := a.auditEntry(c, "login")
	login.ActorID, login.ActorEmail, login.Details = u.ID, u.Email, "after setup"
	if err := a.startSession(c, u, login); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteHome))
}

// validateAccount checks a staff account's name and email (auth.CheckAccount).
func validateAccount(name, email string) views.FieldErrors {
	return views.FieldErrors(auth.CheckAccount(name, email))
}

// checkNewPassword applies the policy and the confirmation.
func checkNewPassword(pw, again string) string {
	if msg := auth.CheckPasswordPolicy(pw); msg != "" {
		return msg
	}
	if pw != again {
		return "The two passwords do not match."
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// CreateSetupToken makes a new one-time setup token when no account exists,
// replacing any earlier one, and returns it (only its hash is stored).
func CreateSetupToken(ctx context.Context, st interface {
	ReplaceSetupToken(context.Context, string, time.Time) error
}, now time.Time, ttl time.Duration) (string, error) {
	token := randomToken()
	if err := st.ReplaceSetupToken(ctx, hashToken(token), now.Add(ttl)); err != nil {
		return "", err
	}
	return token, nil
}
