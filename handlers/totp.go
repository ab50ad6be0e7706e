package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/skip2/go-qrcode"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/views"
)

// Two-factor sign-in with TOTP (RFC 6238; docs/security.md A2, B1 AUTH-8):
// the pages here, the code rules in auth/totp.go.
const (
	// pendingLoginTTL is how long a correct password waits for its code.
	pendingLoginTTL = 5 * time.Minute
	maxCodeLen      = 64
)

// totpIssuer names paylinks in authenticator apps (no colon: it separates
// issuer and account in the otpauth URL).
func (a *app) totpIssuer() string {
	return strings.ReplaceAll(a.brandNow().Company, ":", " ")
}

// totpKey rebuilds the otpauth key of a stored secret for u.
func (a *app) totpKey(u *db.User, secret string) (*otp.Key, error) {
	raw, err := auth.DecodeTOTPSecret(secret)
	if err != nil {
		return nil, err
	}
	return totp.Generate(totp.GenerateOpts{
		Issuer: a.totpIssuer(), AccountName: u.Email, Period: auth.TOTPPeriod,
		Secret: raw, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// --- account: enrol, confirm, disable, recovery codes ---

// twoFactorSection is the account page's view of the user's 2FA.
func (a *app) twoFactorSection(ctx context.Context, u *db.User, errs views.FieldErrors) (views.TwoFactorSection, error) {
	s := views.TwoFactorSection{
		StartURL: a.url(RouteTOTPStart), SetupURL: a.url(RouteTOTPSetup),
		DisableURL: a.url(RouteTOTPDisable), RecoveryURL: a.url(RouteTOTPRecovery), Errors: errs,
	}
	t, err := a.store.TOTPByUser(ctx, u.ID)
	switch {
	case errors.Is(err, db.ErrNotFound):
	case err != nil:
		return s, err
	default:
		s.Enabled, s.Pending, s.EnabledAt, s.RecoveryLeft = t.Enabled, !t.Enabled, when(zoneOf(u.TimeZone), t.EnabledAt), t.RecoveryLeft
	}
	if s.Required, err = a.store.TwoFactorRequired(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// startTOTP makes a new secret (replacing an unconfirmed one) and sends the
// user to the setup page. GET never does this: GET changes nothing.
func (a *app) startTOTP(c echo.Context) error {
	u := currentUser(c)
	err := a.store.StartTOTPEnrolment(c.Request().Context(), u.ID, auth.NewTOTPSecret(), a.auditEntry(c, "2fa.enrol_start"))
	if errors.Is(err, db.ErrConflict) {
		if err := a.flash(c, "info", "Two-factor sign-in is already on."); err != nil {
			return err
		}
		return a.redirect(c, a.url(RouteAccount))
	}
	if err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteTOTPSetup))
}

// pendingTOTP is the user's unconfirmed enrolment, if any.
func (a *app) pendingTOTP(c echo.Context) (db.TOTP, bool, error) {
	t, err := a.store.TOTPByUser(c.Request().Context(), currentUser(c).ID)
	if errors.Is(err, db.ErrNotFound) || (err == nil && t.Enabled) {
		return db.TOTP{}, false, nil
	}
	return t, err == nil, err
}

func (a *app) totpSetupPage(c echo.Context, t db.TOTP, errs views.FieldErrors) (views.TwoFactorSetupPage, error) {
	u := currentUser(c)
	required, err := a.store.TwoFactorRequired(c.Request().Context())
	if err != nil {
		return views.TwoFactorSetupPage{}, err
	}
	return views.TwoFactorSetupPage{
		Layout: a.layout(c, "Set up two-factor sign-in", "account"),
		QRURL:  a.url(RouteTOTPQR), Secret: auth.GroupSecret(t.Secret), Issuer: a.totpIssuer(), Account: u.Email,
		Action: a.url(RouteTOTPConfirm), RestartURL: a.url(RouteTOTPStart), AccountURL: a.url(RouteAccount),
		Required: required, Errors: errs,
	}, nil
}

// totpSetup shows the QR code, the key in text and the confirmation form.
func (a *app) totpSetup(c echo.Context) error {
	t, ok, err := a.pendingTOTP(c)
	if err != nil {
		return err
	}
	if !ok {
		return a.redirect(c, a.url(RouteAccount))
	}
	p, err := a.totpSetupPage(c, t, nil)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.TwoFactorSetup(p))
}

// totpQR is the enrolment's otpauth URL as a PNG, rendered here (no data:
// URL, no third party) and only while the enrolment is unconfirmed: once
// two-factor sign-in is on the key is never shown again.
func (a *app) totpQR(c echo.Context) error {
	t, ok, err := a.pendingTOTP(c)
	if err != nil {
		return err
	}
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	key, err := a.totpKey(currentUser(c), t.Secret)
	if err != nil {
		return err
	}
	png, err := qrcode.Encode(key.URL(), qrcode.Medium, 256)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/png", png)
}

type totpCodeForm struct {
	Code string `form:"code"`
}

// confirmTOTP switches two-factor sign-in on once a code from the new
// secret matches, then shows the recovery codes once.
func (a *app) confirmTOTP(c echo.Context) error {
	var f totpCodeForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	t, ok, err := a.pendingTOTP(c)
	if err != nil {
		return err
	}
	if !ok {
		return a.redirect(c, a.url(RouteAccount))
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	step, ok := auth.MatchTOTP(t.Secret, truncate(f.Code, maxCodeLen), a.now(), t.LastStep)
	if !ok {
		p, err := a.totpSetupPage(c, t, views.FieldErrors{"code": "That code does not match. Check that the app shows paylinks, that your device's clock is right, and enter the newest code."})
		if err != nil {
			return err
		}
		return a.render(c, http.StatusUnprocessableEntity, views.TwoFactorSetup(p))
	}
	codes, hashes := auth.NewRecoveryCodes()
	err = a.store.EnableTOTP(ctx, u.ID, t.Secret, step, hashes, a.auditEntry(c, "2fa.enable"))
	if errors.Is(err, db.ErrNotFound) { // replaced in another tab meanwhile
		return a.redirect(c, a.url(RouteTOTPSetup))
	}
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.RecoveryCodes(views.RecoveryCodesPage{
		Layout: a.layout(c, "Recovery codes", "account"), Codes: codes, JustEnabled: true, Continue: a.url(RouteAccount),
	}))
}

// checkOwnPassword verifies the signed-in user's password for a sensitive
// change. Wrong guesses count towards the same per-account throttle as
// sign-in, so a borrowed session cannot try passwords freely.
func (a *app) checkOwnPassword(c echo.Context, pw, action string) (bool, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	if len(pw) > auth.MaxPasswordLen || pw == "" || a.now().Before(u.LockedUntil) {
		return false, nil
	}
	ok, _, err := a.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, auth.ErrHasherBusy) {
		return false, err
	}
	if ok {
		return true, nil
	}
	audit := a.auditEntry(c, action)
	audit.Outcome, audit.Details = "failed", "wrong password"
	if _, _, err := a.store.RecordLoginFailure(ctx, u.ID, lockFor, audit); err != nil {
		return false, err
	}
	return false, nil
}

// wrongOwnPassword is the message for a refused current password: while
// the account is locked it says until when, since the owner is signed in.
func (a *app) wrongOwnPassword(u *db.User) string {
	if a.now().Before(u.LockedUntil) {
		return "Too many wrong passwords: try again after " + when(zoneOf(u.TimeZone), u.LockedUntil) + "."
	}
	return "The current password is not correct."
}

// accountWithErrors re-renders the account page with 422.
func (a *app) accountWithErrors(c echo.Context, errs views.FieldErrors) error {
	p, err := a.accountPage(c, nil)
	if err != nil {
		return err
	}
	p.Security.TwoFactor.Errors = errs
	return a.render(c, http.StatusUnprocessableEntity, views.Account(p))
}

type totpPasswordForm struct {
	Password         string `form:"twofa_password"`
	RecoveryPassword string `form:"recovery_password"`
}

// disableTOTP turns two-factor sign-in off; it needs the password.
func (a *app) disableTOTP(c echo.Context) error {
	var f totpPasswordForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ok, err := a.checkOwnPassword(c, f.Password, "2fa.disable")
	if err != nil {
		return err
	}
	if !ok {
		return a.accountWithErrors(c, views.FieldErrors{"twofa_password": "The password is not correct, or there were too many wrong attempts; wait a little."})
	}
	err = a.store.DisableTOTP(c.Request().Context(), currentUser(c).ID, a.auditEntry(c, "2fa.disable"))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if err := a.flash(c, "ok", "Two-factor sign-in is off."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteAccount))
}

// newRecoveryCodesHandler replaces the recovery codes; it needs the
// password, and shows the new ones once.
func (a *app) newRecoveryCodesHandler(c echo.Context) error {
	var f totpPasswordForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ok, err := a.checkOwnPassword(c, f.RecoveryPassword, "2fa.recovery_codes")
	if err != nil {
		return err
	}
	if !ok {
		return a.accountWithErrors(c, views.FieldErrors{"recovery_password": "The password is not correct, or there were too many wrong attempts; wait a little."})
	}
	codes, hashes := auth.NewRecoveryCodes()
	err = a.store.ReplaceRecoveryCodes(c.Request().Context(), currentUser(c).ID, hashes, a.auditEntry(c, "2fa.recovery_codes"))
	if errors.Is(err, db.ErrNotFound) {
		return a.redirect(c, a.url(RouteAccount))
	}
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.RecoveryCodes(views.RecoveryCodesPage{
		Layout: a.layout(c, "Recovery codes", "account"), Codes: codes, Continue: a.url(RouteAccount),
	}))
}

// --- enforcement ---

// twoFactorExempt are the routes a user who must enrol can still use.
var twoFactorExempt = []string{RouteAccount, RouteAccountPassword, RouteLogout, RouteTOTPStart, RouteTOTPSetup, RouteTOTPQR, RouteTOTPConfirm}

// needsTOTPEnrolment reports whether an admin requires two-factor sign-in
// and u has none yet, outside the routes that let them set it up.
func (a *app) needsTOTPEnrolment(c echo.Context, u *db.User) (bool, error) {
	for _, name := range twoFactorExempt {
		if c.Path() == a.echo.Reverse(name) {
			return false, nil
		}
	}
	enabled, required, err := a.store.TwoFactorStatus(c.Request().Context(), u.ID)
	return required && !enabled, err
}

// --- sign-in: the second step ---

// pendingCookie carries the token of a half-finished sign-in: its own
// short-lived cookie, never the session's.
func (a *app) pendingCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: a.opts.cookieName("signin2fa"), Value: value, Path: "/", MaxAge: maxAge,
		Secure: a.opts.secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
}

// beginSecondFactor runs after a correct password. For a user with
// two-factor sign-in it signs the browser out of any session it had,
// stores a pending sign-in (no session: nothing signed-in is reachable),
// sets its cookie and redirects to the code step, reporting true.
func (a *app) beginSecondFactor(c echo.Context, u db.User, next string, audit db.AuditEntry) (bool, error) {
	ctx := c.Request().Context()
	t, err := a.store.TOTPByUser(ctx, u.ID)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !t.Enabled) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if old := currentSession(c); old != nil && old.ID != "" {
		if err := a.store.DeleteSession(ctx, old.ID, nil); err != nil {
			return false, err
		}
		c.SetCookie(&http.Cookie{Name: old.Name(), Value: "", Path: "/", MaxAge: -1, Secure: a.opts.secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	token := randomToken()
	audit.Outcome, audit.Details = "pending", "password ok; second factor required"
	if _, err := a.store.CreatePendingLogin(ctx, db.PendingLogin{TokenHash: hashToken(token), UserID: u.ID, Next: safeNext(next, "")}, pendingLoginTTL, audit); err != nil {
		return false, err
	}
	c.SetCookie(a.pendingCookie(token, int(pendingLoginTTL/time.Second)))
	return true, a.redirect(c, a.url(RouteLoginTOTP))
}

// pendingLogin is the request's unexpired half-finished sign-in, if any.
func (a *app) pendingLogin(c echo.Context) (db.PendingLogin, bool, error) {
	ck, err := c.Cookie(a.opts.cookieName("signin2fa"))
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return db.PendingLogin{}, false, nil
	}
	p, err := a.store.PendingLoginByToken(c.Request().Context(), hashToken(ck.Value), a.now())
	if errors.Is(err, db.ErrNotFound) {
		return db.PendingLogin{}, false, nil
	}
	return p, err == nil, err
}

// restartSignIn forgets the pending cookie and goes back to the password.
func (a *app) restartSignIn(c echo.Context) error {
	c.SetCookie(a.pendingCookie("", -1))
	return a.redirect(c, a.url(RouteLogin)+"?expired=1")
}

func (a *app) secondFactorPage(c echo.Context, msg string) views.SecondFactorPage {
	return views.SecondFactorPage{
		Layout: a.layout(c, "Two-factor sign-in", ""), Action: a.url(RouteLoginTOTPPost),
		LoginURL: a.url(RouteLogin), Error: msg,
	}
}

func (a *app) secondFactorForm(c echo.Context) error {
	if currentUser(c) != nil {
		return a.redirect(c, a.url(RouteHome))
	}
	_, ok, err := a.pendingLogin(c)
	if err != nil {
		return err
	}
	if !ok {
		return a.restartSignIn(c)
	}
	return a.render(c, http.StatusOK, views.SecondFactor(a.secondFactorPage(c, "")))
}

// secondFactor checks an authenticator code (±1 step, each step once) or a
// recovery code (once), under the per-account throttle of sign-in, then
// starts the session.
func (a *app) secondFactor(c echo.Context) error {
	var f totpCodeForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ctx := c.Request().Context()
	p, ok, err := a.pendingLogin(c)
	if err != nil {
		return err
	}
	if !ok {
		return a.restartSignIn(c)
	}
	u, err := a.store.UserByID(ctx, p.UserID)
	// A disabled account, or one changed since the password was checked
	// (password reset, role change, disabling), starts again.
	if errors.Is(err, db.ErrNotFound) || (err == nil && (u.Disabled || u.UpdatedAt.After(p.CreatedAt))) {
		return a.restartSignIn(c)
	}
	if err != nil {
		return err
	}
	audit := a.auditEntry(c, "login")
	audit.ActorID, audit.ActorEmail, audit.Target = u.ID, u.Email, "user:"+strconv.FormatInt(u.ID, 10)
	fail := func(status int, msg string) error {
		return a.render(c, status, views.SecondFactor(a.secondFactorPage(c, msg)))
	}
	now := a.now()
	if now.Before(u.LockedUntil) {
		audit.Outcome, audit.Details = "throttled", "second factor; locked until "+u.LockedUntil.Format(time.RFC3339)
		if err := a.store.Audit(ctx, audit); err != nil {
			return err
		}
		return fail(http.StatusTooManyRequests, "Too many wrong codes. Wait a little, then try again.")
	}
	t, err := a.store.TOTPByUser(ctx, u.ID)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !t.Enabled) {
		return a.restartSignIn(c) // reset by an admin meanwhile
	}
	if err != nil {
		return err
	}
	code := strings.TrimSpace(f.Code)
	method := ""
	switch {
	case len(code) > maxCodeLen || code == "":
	case auth.LooksLikeTOTP(code):
		if step, ok := auth.MatchTOTP(t.Secret, code, now, t.LastStep); ok {
			err := a.store.UseTOTPStep(ctx, u.ID, step)
			switch {
			case err == nil:
				method = "authenticator code"
			case !errors.Is(err, db.ErrCodeUsed):
				return err
			}
		}
	default:
		left, err := a.store.UseRecoveryCode(ctx, u.ID, auth.HashRecoveryCode(code))
		switch {
		case err == nil:
			method = "recovery code, " + strconv.Itoa(left) + " left"
		case !errors.Is(err, db.ErrCodeUsed):
			return err
		}
	}
	if method == "" {
		audit.Outcome, audit.Details = "failed", "wrong or used second factor"
		if _, _, err := a.store.RecordLoginFailure(ctx, u.ID, lockFor, audit); err != nil {
			return err
		}
		return fail(http.StatusUnauthorized, "That code is not valid or was already used. Enter the newest code from your app, or a recovery code.")
	}
	if _, err := a.store.ConsumePendingLogin(ctx, p.TokenHash); errors.Is(err, db.ErrNotFound) {
		return a.restartSignIn(c)
	} else if err != nil {
		return err
	}
	c.SetCookie(a.pendingCookie("", -1))
	audit.Outcome, audit.Details = "ok", "second factor: "+method
	if err := a.startSession(c, u, audit); err != nil {
		return err
	}
	target := safeNext(p.Next, a.url(RouteHome))
	if u.MustChangePassword {
		target = a.url(RouteAccount)
	}
	return a.redirect(c, target)
}

// --- admin ---

// resetTOTP removes another user's authenticator and recovery codes and
// ends their sessions; they sign in with the password alone next time (or
// must enrol again when an admin requires it).
func (a *app) resetTOTP(c echo.Context) error {
	u, err := a.targetUser(c)
	if err != nil {
		return err
	}
	if err := a.store.ResetTOTP(c.Request().Context(), u.ID, a.auditEntry(c, "2fa.reset")); err != nil {
		return err
	}
	return a.userFlash(c, "ok", "Two-factor sign-in of "+u.Email+" was reset and their sessions were ended.")
}

// setRequire2FA turns the "require two-factor sign-in for everyone"
// setting on or off.
func (a *app) setRequire2FA(c echo.Context) error {
	var on bool
	switch c.FormValue("require") {
	case "1":
		on = true
	case "0":
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "require must be 0 or 1")
	}
	if err := a.store.SetTwoFactorRequired(c.Request().Context(), on, currentUser(c).ID, a.auditEntry(c, "2fa.require")); err != nil {
		return err
	}
	msg := "Two-factor sign-in is optional."
	if on {
		msg = "Two-factor sign-in is required: users without it are sent to set it up after signing in."
	}
	return a.userFlash(c, "ok", msg)
}
