package views

// AccountSecurity is the account page's two-factor and sessions sections.
type AccountSecurity struct {
	TwoFactor TwoFactorSection
	Sessions  SessionsSection
}

// TwoFactorSection shows the state of the user's two-factor sign-in and the
// forms that change it.
type TwoFactorSection struct {
	Enabled      bool
	EnabledAt    string // as views.When shows it
	RecoveryLeft int
	Pending      bool // an enrolment waits for its confirmation code
	Required     bool // an admin requires two-factor sign-in for everyone
	StartURL     string
	SetupURL     string
	DisableURL   string
	RecoveryURL  string
	Errors       FieldErrors
}

// SessionsSection lists the user's signed-in browsers.
type SessionsSection struct {
	Rows         []SessionRow
	EndOthersURL string
}

// SessionRow is one signed-in browser.
type SessionRow struct {
	Device     string // "Firefox on Windows"
	IP         string
	CreatedAt  string // as views.When shows it
	LastSeenAt string
	Current    bool // the browser looking at the page
	EndURL     string
}

// TwoFactorSetupPage enrols an authenticator: QR code, the secret in text
// and the confirmation form.
type TwoFactorSetupPage struct {
	Layout     Layout
	QRURL      string
	Secret     string // grouped in fours for reading
	Issuer     string
	Account    string
	Action     string // confirm
	RestartURL string // POST: a new secret
	AccountURL string
	Required   bool
	Errors     FieldErrors
}

// RecoveryCodesPage shows new recovery codes, once.
type RecoveryCodesPage struct {
	Layout      Layout
	Codes       []string
	JustEnabled bool
	Continue    string
}

// SecondFactorPage is the sign-in step after the password.
type SecondFactorPage struct {
	Layout   Layout
	Action   string
	LoginURL string // start again
	Error    string
}

// Require2FAToggle is the admin setting on the users page.
type Require2FAToggle struct {
	On     bool
	Action string
}
