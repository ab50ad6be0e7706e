// Package views holds paylinks' templ components and the view models they
// take. Views never see database types: handlers copy rows into these
// structs, so view tests build their input by hand.
package views

import "time"

// Layout is what every full page needs.
type Layout struct {
	Title       string
	User        *Viewer // nil when signed out
	CSRF        string  // token for forms and htmx
	Flashes     []Flash
	SandboxMode bool
	Active      string // navigation key of the current page
	Assets      Assets
	Nav         Nav
	Brand       Brand // the merchant's (customer_models.go)
	// StorageFault, shown to admins, says why the database cannot accept
	// writes now ("the disk is full", since 14:02 UTC); "" when it can.
	StorageFault string
}

// Nav holds the URLs of the navigation, built from the route table.
type Nav struct {
	Home, Links, Account, Users, Settings, Events, Logout, Login string
	EmailTemplate, Mailbox                                       string
	Audit                                                        string
	APIKeys, WebhookEndpoints                                    string
}

// Assets are content-hashed static URLs.
type Assets struct {
	CSS, JS, HTMX string
}

// Viewer is the signed-in user as the chrome shows them.
type Viewer struct {
	Name  string
	Email string
	Role  string
}

// IsAdmin reports whether the viewer may use admin pages.
func (v *Viewer) IsAdmin() bool { return v != nil && v.Role == "admin" }

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind string // "ok", "error", "info"
	Text string
}

// FieldErrors maps a form field name to the message shown beside it.
type FieldErrors map[string]string

// LoginPage is the sign-in form.
type LoginPage struct {
	Layout    Layout
	Action    string
	Email     string
	Error     string
	SignedOut bool
	Expired   bool
}

// SetupPage is the first-run form that creates the first admin.
type SetupPage struct {
	Layout  Layout
	Action  string
	Token   string
	Invalid bool // the link is unknown, used or expired
	Name    string
	Email   string
	Errors  FieldErrors
}

// AccountPage is the signed-in user's own page.
type AccountPage struct {
	Layout     Layout
	Action     string
	Name       string
	Email      string
	Role       string
	MustChange bool
	Errors     FieldErrors
	Security   AccountSecurity // two-factor sign-in and sessions (totp.templ)
	Notify     AccountNotify   // staff notifications (reminders.templ)
	Zone       AccountZone     // the time zone times are shown in
}

// AccountZone is the account page's time-zone choice.
type AccountZone struct {
	Action string
	Value  string   // the IANA name saved, or the refused one typed
	Zones  []string // offered in the list; any IANA name may be typed
	Now    string   // the time now, as it will be shown
}

// UsersPage is the admin list of accounts.
type UsersPage struct {
	Layout  Layout
	Users   []UserRow
	Create  NewUserForm
	Errors  FieldErrors
	Secret  *OneTimeSecret // shown once after create or reset
	Actions UserActions
	// Require2FA is the "require two-factor sign-in" setting (totp.templ).
	Require2FA Require2FAToggle
}

// UserActions are the form targets of the users page.
type UserActions struct {
	Create string
}

// UserRow is one account in the admin list.
type UserRow struct {
	ID          int64
	Email       string
	Name        string
	Role        string
	Disabled    bool
	Locked      bool
	Sessions    int
	CreatedAt   time.Time
	Self        bool
	RoleURL     string
	DisableURL  string
	EnableURL   string
	ResetURL    string
	UnlockURL   string
	EndSessions string
	TwoFactor   bool   // two-factor sign-in is on
	Reset2FAURL string // POST: an admin resets it
}

// NewUserForm keeps what an admin typed when creating an account.
type NewUserForm struct {
	Email, Name, Role string
}

// OneTimeSecret is a generated password shown exactly once.
type OneTimeSecret struct {
	Email    string
	Password string
}

// ErrorPage is every error the server renders.
type ErrorPage struct {
	Layout    Layout
	Status    int
	Title     string
	Message   string
	RequestID string
}

// Roles lists the roles in the order forms offer them.
var Roles = []string{"viewer", "finance", "admin"}
