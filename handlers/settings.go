package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// emptyLimitRows is how many blank rows the per-currency limits table
// offers for new currencies (saving and coming back offers more).
const emptyLimitRows = 3

// maxLimitRows bounds the rows one form may post.
const maxLimitRows = 200

func (a *app) settingsPage(c echo.Context, values map[string]string, limits []db.CurrencyLimit, errs views.FieldErrors) views.SettingsPage {
	p := views.SettingsPage{
		Layout: a.layout(c, "Settings", "settings"), Action: a.url(RouteSettingsSave),
		Values: values, Errors: errs, Countries: a.countryOptions, Currencies: a.currencyOptions,
		Limits: stableMintLimits(a.client.Limits()),
	}
	for _, l := range limits {
		p.CurrencyLimits = append(p.CurrencyLimits, views.CurrencyLimitRow{Currency: l.Currency, Min: l.Min, Max: l.Max})
	}
	empty := 0 // blank rows already at the end (a form shown again keeps them)
	for i := len(limits) - 1; i >= 0 && limits[i] == (db.CurrencyLimit{}); i-- {
		empty++
	}
	for range emptyLimitRows - min(empty, emptyLimitRows) {
		p.CurrencyLimits = append(p.CurrencyLimits, views.CurrencyLimitRow{})
	}
	return p
}

// stableMintLimits says what StableMint itself accepts, for the settings.
func stableMintLimits(l stablemint.Limits) string {
	if !l.Min.IsZero() || !l.Max.IsZero() {
		return "StableMint accepts: " + l.String() + "."
	}
	return "StableMint sets no limit of its own."
}

func settingsValues(st db.Settings) map[string]string {
	m := map[string]string{
		"successUrl": st.SuccessURL, "supportUrl": st.SupportURL, "exitUrl": st.ExitURL, "errorUrl": st.ErrorURL,
		"defaultCurrency": st.DefaultCurrency, "defaultCountry": st.DefaultCountry,
		"minAmount": st.MinAmount, "maxAmount": st.MaxAmount,
		"companyName": st.CompanyName, "supportEmail": st.SupportEmail, "supportPageUrl": st.SupportPageURL, "accentColor": st.AccentColor,
	}
	for k, v := range reminderSettingsValues(st) { // reminders and notifications (reminders.go)
		m[k] = v
	}
	return m
}

// withLogo shows the saved logo on the settings page.
func (a *app) withLogo(c echo.Context, p views.SettingsPage) views.SettingsPage {
	p.LogoURL = a.viewBrand(a.brand(c.Request().Context())).LogoURL
	return p
}

func (a *app) settings(c echo.Context) error {
	st, err := a.store.GetSettings(c.Request().Context())
	if err != nil {
		return err
	}
	st = a.defaults(st)
	if st.CompanyName == "" {
		st.CompanyName = a.opts.CompanyName // the first-run default, until saved
	}
	p := a.withLogo(c, a.settingsPage(c, settingsValues(st), st.CurrencyLimits, nil))
	p.ApprovedHosts = st.ApprovedCheckoutHosts
	p.InternalHosts, p.InternalHostsURL = st.OutboundPrivateHosts, a.url(RouteWebhookEndpoints)+"#internal-hosts"
	return a.render(c, http.StatusOK, views.Settings(p))
}

// saveSettings validates every field, then stores and audits the change.
func (a *app) saveSettings(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	st := db.Settings{
		SuccessURL: get("successUrl"), SupportURL: get("supportUrl"), ExitURL: get("exitUrl"), ErrorURL: get("errorUrl"),
		DefaultCurrency: strings.ToUpper(get("defaultCurrency")), DefaultCountry: strings.ToUpper(get("defaultCountry")),
		MinAmount: get("minAmount"), MaxAmount: get("maxAmount"),
	}
	errs := views.FieldErrors{}
	for name, v := range map[string]string{"successUrl": st.SuccessURL, "supportUrl": st.SupportURL, "exitUrl": st.ExitURL, "errorUrl": st.ErrorURL} {
		if msg := checkAbsoluteURL(v); msg != "" {
			errs[name] = msg
		}
	}
	if !stablemint.ValidCurrency(st.DefaultCurrency) {
		errs["defaultCurrency"] = "Choose a currency."
	}
	if st.DefaultCountry != "" && !stablemint.ValidCountry(st.DefaultCountry) {
		errs["defaultCountry"] = "Choose a country, or none."
	}
	var min, max stablemint.Decimal
	if st.MinAmount != "" {
		if min, err = stablemint.ParseDecimal(st.MinAmount); err != nil {
			errs["minAmount"] = "Enter a positive number like 0.5, or leave empty."
		}
	}
	if st.MaxAmount != "" {
		if max, err = stablemint.ParseDecimal(st.MaxAmount); err != nil {
			errs["maxAmount"] = "Enter a positive number like 5000, or leave empty."
		}
	}
	if st.MinAmount != "" && st.MaxAmount != "" && errs["minAmount"] == "" && errs["maxAmount"] == "" && min.Cmp(max) > 0 {
		errs["maxAmount"] = "The maximum must not be below the minimum."
	}
	old, err := a.store.GetSettings(c.Request().Context())
	if err != nil {
		return err
	}
	st.ApprovedCheckoutHosts = old.ApprovedCheckoutHosts // approved on held links, not on this form
	st.OutboundPrivateHosts = old.OutboundPrivateHosts   // listed on the webhook endpoints page
	b := parseBrand(c, form, old, errs)
	st.CompanyName, st.SupportEmail, st.SupportPageURL, st.AccentColor = b.Company, b.SupportEmail, b.SupportURL, b.Accent
	// Reminders and staff notifications (reminders.go); a form without
	// their fields leaves them as they were.
	st.Reminders, st.NotifyTeam = old.Reminders, old.NotifyTeam
	if form.Has("reminder.max") {
		reminderRule := parseReminderRule(form, "reminder.", map[string]string{}, errs)
		st.Reminders = &reminderRule
	}
	if form.Has("notifyTeam") {
		st.NotifyTeam = parseTeam(form.Get("notifyTeam"), errs)
	}
	rows := parseLimitRows(form, errs)
	for _, r := range rows {
		if r.Currency != "" {
			st.CurrencyLimits = append(st.CurrencyLimits, r)
		}
	}
	if len(errs) > 0 {
		if b.LogoChosen && errs["logo"] == "" {
			// A browser never shows a chosen file again.
			errs["logo"] = "Nothing was saved: choose the logo again once the fields marked are corrected."
		}
		values := settingsValues(st)
		if b.RemoveLogo {
			values["removeLogo"] = "on"
		}
		for _, k := range []string{"reminder.beforeOn", "reminder.beforeHours", "reminder.afterOn", "reminder.afterDays", "reminder.max", "notifyTeam"} {
			values[k] = strings.TrimSpace(form.Get(k)) // as typed
		}
		p := a.withLogo(c, a.settingsPage(c, values, rows, errs))
		p.ApprovedHosts = old.ApprovedCheckoutHosts
		p.InternalHosts, p.InternalHostsURL = old.OutboundPrivateHosts, a.url(RouteWebhookEndpoints)+"#internal-hosts"
		return a.render(c, http.StatusUnprocessableEntity, views.Settings(p))
	}
	lc := db.LogoChange{Set: b.Logo, Remove: b.Logo == nil && b.RemoveLogo}
	err = a.store.SaveSettingsAndLogo(c.Request().Context(), st, lc, currentUser(c).ID, a.auditEntry(c, "settings.change"))
	a.brandCache.invalidate() // whatever happened, read it again
	if err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Settings saved."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteSettings))
}

// checkAbsoluteURL accepts an absolute http(s) URL with a host.
func checkAbsoluteURL(v string) string {
	if v == "" {
		return "Enter a URL."
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(v, " \r\n") {
		return "Enter an absolute http(s) URL, like https://example.com/thanks."
	}
	return ""
}

// parseLimitRows reads the per-currency limits table as posted, every row
// kept (for showing the form again), and puts each row's problems in errs
// under its field: an unknown or repeated currency, a limit that is not a
// positive number, a maximum below the minimum, or limits without a
// currency.
func parseLimitRows(form url.Values, errs views.FieldErrors) []db.CurrencyLimit {
	var rows []db.CurrencyLimit
	seen := map[string]bool{}
	for i := 0; i < maxLimitRows; i++ {
		n := strconv.Itoa(i)
		if !form.Has("limitCurrency."+n) && !form.Has("limitMin."+n) && !form.Has("limitMax."+n) {
			break
		}
		r := db.CurrencyLimit{Currency: strings.ToUpper(strings.TrimSpace(form.Get("limitCurrency." + n))),
			Min: strings.TrimSpace(form.Get("limitMin." + n)), Max: strings.TrimSpace(form.Get("limitMax." + n))}
		rows = append(rows, r)
		switch {
		case r.Currency == "" && (r.Min != "" || r.Max != ""):
			errs["limitCurrency."+n] = "Choose the currency these limits are for."
			continue
		case r.Currency == "":
			continue
		case !stablemint.ValidCurrency(r.Currency):
			errs["limitCurrency."+n] = "Choose a currency."
		case seen[r.Currency]:
			errs["limitCurrency."+n] = r.Currency + " has a row above already."
		}
		seen[r.Currency] = true
		min, minErr := stablemint.ParseDecimal(r.Min)
		max, maxErr := stablemint.ParseDecimal(r.Max)
		if r.Min != "" && minErr != nil {
			errs["limitMin."+n] = "Enter a positive number like 0.5, or leave empty."
		}
		if r.Max != "" && maxErr != nil {
			errs["limitMax."+n] = "Enter a positive number like 5000, or leave empty."
		}
		if r.Min != "" && r.Max != "" && minErr == nil && maxErr == nil && min.Cmp(max) > 0 {
			errs["limitMax."+n] = "The maximum must not be below the minimum."
		}
	}
	return rows
}
