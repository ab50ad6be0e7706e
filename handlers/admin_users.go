package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// usersPage lists every account with its actions.
func (a *app) usersPage(c echo.Context, form views.NewUserForm, errs views.FieldErrors, secret *views.OneTimeSecret) (views.UsersPage, error) {
	ctx := c.Request().Context()
	users, err := a.store.ListUsers(ctx)
	if err != nil {
		return views.UsersPage{}, err
	}
	me := currentUser(c)
	now := a.now()
	with2FA, err := a.store.UsersWithTOTP(ctx)
	if err != nil {
		return views.UsersPage{}, err
	}
	require2FA, err := a.store.TwoFactorRequired(ctx)
	if err != nil {
		return views.UsersPage{}, err
	}
	rows := make([]views.UserRow, 0, len(users))
	for _, u := range users {
		n, err := a.store.CountUserSessions(ctx, u.ID)
		if err != nil {
			return views.UsersPage{}, err
		}
		rows = append(rows, views.UserRow{
			ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled,
			Locked: now.Before(u.LockedUntil), Sessions: n, CreatedAt: u.CreatedAt, Self: u.ID == me.ID,
			RoleURL:     a.url(RouteUserRole, u.ID),
			DisableURL:  a.url(RouteUserDisable, u.ID),
			EnableURL:   a.url(RouteUserEnable, u.ID),
			ResetURL:    a.url(RouteUserReset, u.ID),
			UnlockURL:   a.url(RouteUserUnlock, u.ID),
			EndSessions: a.url(RouteUserSessions, u.ID),
			TwoFactor:   with2FA[u.ID],
			Reset2FAURL: a.url(RouteUserReset2FA, u.ID),
		})
	}
	if form.Role == "" {
		form.Role = string(paylink.RoleFinance)
	}
	return views.UsersPage{
		Layout: a.layout(c, "Users", "users"), Users: rows, Create: form, Errors: errs, Secret: secret,
		Actions:    views.UserActions{Create: a.url(RouteUserCreate)},
		Require2FA: views.Require2FAToggle{On: require2FA, Action: a.url(RouteRequire2FA)},
	}, nil
}

func (a *app) users(c echo.Context) error {
	p, err := a.usersPage(c, views.NewUserForm{}, nil, nil)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.Users(p))
}

type newUserForm struct {
	Name  string       `form:"name"`
	Email string       `form:"email"`
	Role  paylink.Role `form:"role"`
}

// createUser makes an account with a generated one-time password, shown on
// this response only (never stored in clear, never in a flash); the user
// must replace it at first sign-in.
func (a *app) createUser(c echo.Context) error {
	var f newUserForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	form := views.NewUserForm{Name: strings.TrimSpace(f.Name), Email: strings.TrimSpace(f.Email), Role: string(f.Role)}
	errs := validateAccount(form.Name, form.Email)
	if !f.Role.Valid() {
		errs["role"] = "Choose a role."
	}
	ctx := c.Request().Context()
	if len(errs) == 0 {
		pw := auth.GeneratePassword()
		hash, err := a.hasher.Hash(ctx, pw)
		if err != nil {
			return err
		}
		audit := a.auditEntry(c, "user.create")
		audit.Details = "role=" + string(f.Role) + " email=" + form.Email
		_, err = a.store.CreateUser(ctx, db.NewUser{Email: form.Email, Name: form.Name, Role: f.Role, PasswordHash: hash, MustChangePassword: true}, audit)
		if err == nil {
			p, err := a.usersPage(c, views.NewUserForm{}, nil, &views.OneTimeSecret{Email: form.Email, Password: pw})
			if err != nil {
				return err
			}
			p.Layout.Flashes = append(p.Layout.Flashes, views.Flash{Kind: "ok", Text: "User " + form.Email + " created."})
			return a.render(c, http.StatusCreated, views.Users(p))
		}
		if !errors.Is(err, db.ErrConflict) {
			return err
		}
		errs["email"] = "An account with this email already exists."
	}
	p, err := a.usersPage(c, form, errs, nil)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusUnprocessableEntity, views.Users(p))
}

// targetUser loads the :id user; acting on yourself here is refused so an
// admin cannot lock themselves out (use the account page instead).
func (a *app) targetUser(c echo.Context) (db.User, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.User{}, echo.NewHTTPError(http.StatusNotFound)
	}
	u, err := a.store.UserByID(c.Request().Context(), id)
	if err != nil {
		return db.User{}, err
	}
	if u.ID == currentUser(c).ID {
		return db.User{}, echo.NewHTTPError(http.StatusForbidden, "admins cannot change their own account here")
	}
	return u, nil
}

// lastAdmin reports whether u is the only enabled admin.
func (a *app) lastAdmin(c echo.Context, u db.User) (bool, error) {
	if u.Role != paylink.RoleAdmin || u.Disabled {
		return false, nil
	}
	all, err := a.store.ListUsers(c.Request().Context())
	if err != nil {
		return false, err
	}
	for _, o := range all {
		if o.ID != u.ID && o.Role == paylink.RoleAdmin && !o.Disabled {
			return false, nil
		}
	}
	return true, nil
}

func (a *app) changeRole(c echo.Context) error {
	u, err := a.targetUser(c)
	if err != nil {
		return err
	}
	role := paylink.Role(c.FormValue("role"))
	if !role.Valid() {
		return echo.NewHTTPError(http.StatusBadRequest, "unknown role")
	}
	if role == u.Role {
		return a.redirect(c, a.url(RouteUsers))
	}
	if last, err := a.lastAdmin(c, u); err != nil {
		return err
	} else if last {
		return a.userFlash(c, "error", "paylinks needs at least one enabled admin.")
	}
	audit := a.auditEntry(c, "user.role_change")
	audit.Details = string(u.Role) + " -> " + string(role)
	if err := a.store.SetUserRole(c.Request().Context(), u.ID, role, audit); err != nil {
		return err
	}
	return a.userFlash(c, "ok", u.Email+" is now "+string(role)+"; their sessions were ended.")
}

func (a *app) disableUser(c echo.Context) error { return a.setDisabled(c, true) }
func (a *app) enableUser(c echo.Context) error  { return a.setDisabled(c, false) }

func (a *app) setDisabled(c echo.Context, disabled bool) error {
	u, err := a.targetUser(c)
	if err != nil {
		return err
	}
	if disabled {
		if last, err := a.lastAdmin(c, u); err != nil {
			return err
		} else if last {
			return a.userFlash(c, "error", "paylinks needs at least one enabled admin.")
		}
	}
	action, msg := "user.enable", u.Email+" can sign in again."
	if disabled {
		action, msg = "user.disable", u.Email+" is disabled and was signed out everywhere."
	}
	if err := a.store.SetUserDisabled(c.Request().Context(), u.ID, disabled, a.auditEntry(c, action)); err != nil {
		return err
	}
	return a.userFlash(c, "ok", msg)
}

// resetPassword sets a generated one-time password, ends the user's
// sessions and shows the password once.
func (a *app) resetPassword(c echo.Context) error {
	u, err := a.targetUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pw := auth.GeneratePassword()
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	if err := a.store.SetPassword(ctx, u.ID, hash, true, "", a.auditEntry(c, "user.password_reset")); err != nil {
		return err
	}
	p, err := a.usersPage(c, views.NewUserForm{}, nil, &views.OneTimeSecret{Email: u.Email, Password: pw})
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.Users(p))
}

func (a *app) unlockUser(c echo.Context) error {
	u, err := a.targetUser(c)
	if err != nil {
		return err
	}
	if err := a.store.UnlockUser(c.Request().Context(), u.ID, a.auditEntry(c, "user.unlock")); err != nil {
		return err
	}
	return a.userFlash(c, "ok", u.Email+" can try to sign in again now.")
}

func (a *app) endSessions(c echo.Context) error {
	u, err := a.targetUser(c)
	if err != nil {
		return err
	}
	if err := a.store.EndUserSessions(c.Request().Context(), u.ID, a.auditEntry(c, "user.sessions_end")); err != nil {
		return err
	}
	return a.userFlash(c, "ok", "All sessions of "+u.Email+" were ended.")
}

// userFlash redirects back to the users page with a message.
func (a *app) userFlash(c echo.Context, kind, text string) error {
	if err := a.flash(c, kind, text); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteUsers))
}
