package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

func (a *app) settingsPage(c echo.Context, values map[string]string, errs views.FieldErrors) views.SettingsPage {
	return views.SettingsPage{
		Layout: a.layout(c, "Settings", "settings"), Action: a.url(RouteSettingsSave),
		Values: values, Errors: errs, Countries: a.countryOptions, Currencies: a.currencyOptions,
		Limits: "StableMint accepts: " + strings.TrimSuffix(strings.TrimPrefix(limitsText(a.client.Limits()), "Allowed: "), "."),
	}
}

func settingsValues(st db.Settings) map[string]string {
	return map[string]string{
		"successUrl": st.SuccessURL, "supportUrl": st.SupportURL, "exitUrl": st.ExitURL, "errorUrl": st.ErrorURL,
		"defaultCurrency": st.DefaultCurrency, "defaultCountry": st.DefaultCountry,
		"minAmount": st.MinAmount, "maxAmount": st.MaxAmount,
	}
}

func (a *app) settings(c echo.Context) error {
	st, err := a.store.GetSettings(c.Request().Context())
	if err != nil {
		return err
	}
	st = a.defaults(st)
	return a.render(c, http.StatusOK, views.Settings(a.settingsPage(c, settingsValues(st), nil)))
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
	if len(errs) > 0 {
		return a.render(c, http.StatusUnprocessableEntity, views.Settings(a.settingsPage(c, settingsValues(st), errs)))
	}
	if err := a.store.SaveSettings(c.Request().Context(), st, currentUser(c).ID, a.auditEntry(c, "settings.change")); err != nil {
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
