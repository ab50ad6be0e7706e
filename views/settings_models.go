package views

// SettingsPage is the admin settings form.
type SettingsPage struct {
	Layout     Layout
	Action     string
	Values     map[string]string
	Errors     FieldErrors
	Countries  []Option
	Currencies []Option
	Limits     string // the provider's limits, for the hint
	// CurrencyLimits are the per-currency rows: the saved ones, then a
	// few empty ones to add more. Row i's fields are named
	// limitCurrency.i, limitMin.i and limitMax.i.
	CurrencyLimits []CurrencyLimitRow
	// ApprovedHosts are the checkout hosts admins approved on held links.
	ApprovedHosts []string
	// InternalHosts are the webhook endpoint hosts allowed on internal
	// addresses, changed on InternalHostsURL (the webhook endpoints page).
	InternalHosts    []string
	InternalHostsURL string
	// LogoURL shows the saved logo ("" when there is none). The brand's
	// other fields are in Values: companyName, supportEmail,
	// supportPageUrl, accentColor; removeLogo is "on" when ticked.
	LogoURL string
}

// CurrencyLimitRow is one row of the per-currency limits table.
type CurrencyLimitRow struct{ Currency, Min, Max string }

// Value returns a field's value.
func (p SettingsPage) Value(name string) string { return p.Values[name] }
