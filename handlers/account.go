package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/views"
)

func (a *app) accountPage(c echo.Context, errs views.FieldErrors) (views.AccountPage, error) {
	u := currentUser(c)
	sec, err := a.accountSecurity(c) // two-factor sign-in and sessions (account_sessions.go)
	if err != nil {
		return views.AccountPage{}, err
	}
	notify, err := a.store.NotifyPreference(c.Request().Context(), u.ID)
	return views.AccountPage{
		Layout: a.layout(c, "Your account", "account"), Action: a.url(RouteAccountPassword),
		Name: u.Name, Email: u.Email, Role: string(u.Role), MustChange: u.MustChangePassword, Errors: errs,
		Security: sec, Notify: views.AccountNotify{Action: a.url(RouteAccountNotify), Choice: notify},
		Zone: views.AccountZone{Action: a.url(RouteAccountZone), Value: zoneName(u.TimeZone), Zones: commonZones,
			Now: when(zoneOf(u.TimeZone), a.now())},
	}, err
}

func (a *app) account(c echo.Context) error {
	p, err := a.accountPage(c, nil)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.Account(p))
}

type passwordForm struct {
	Current   string `form:"current"`
	Password  string `form:"password"`
	Password2 string `form:"password2"`
}

// changePassword needs the current password; it ends every other session.
func (a *app) changePassword(c echo.Context) error {
	var f passwordForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	errs := views.FieldErrors{}
	// Wrong guesses count towards the account's sign-in lock and are
	// audited, like a wrong password at sign-in (docs/security.md A2).
	if ok, err := a.checkOwnPassword(c, f.Current, "user.password_change"); err != nil {
		return err
	} else if !ok {
		errs["current"] = a.wrongOwnPassword(u)
	}
	if msg := checkNewPassword(f.Password, f.Password2); msg != "" {
		errs["password"] = msg
	} else if f.Password == f.Current {
		errs["password"] = "Choose a password different from the current one."
	}
	if len(errs) > 0 {
		p, err := a.accountPage(c, errs)
		if err != nil {
			return err
		}
		return a.render(c, http.StatusUnprocessableEntity, views.Account(p))
	}
	hash, err := a.hasher.Hash(ctx, f.Password)
	if err != nil {
		return err
	}
	audit := a.auditEntry(c, "user.password_change")
	if err := a.store.SetPassword(ctx, u.ID, hash, false, currentSession(c).ID, audit); err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Password changed. Your other sessions were signed out."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteHome))
}
