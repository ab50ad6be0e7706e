package handlers

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// Form limits beyond the draft's own (links.MaxNoteLength, links.MaxCustomFields).
const (
	maxFormTokenSize = 64
)

// linkInput is the new-link form as submitted: raw strings only, never a db
// struct, so no form field can set status, owner or StableMint's fields.
type linkInput struct {
	Values       map[string]string
	CustomFields []views.KV
	FormToken    string
	ReissueOf    int64
	Confirmed    bool
	AddField     bool
	RemoveField  int // -1 when none
}

// linkFields are the plain form fields, named as the API names them.
var linkFields = links.FormFields

// draft is the input as the links service takes it.
func (in linkInput) draft() links.Draft {
	d := links.Draft{Fields: in.Values, FormToken: in.FormToken, ReissueOf: in.ReissueOf, AllowDuplicate: in.Confirmed}
	for _, kv := range in.CustomFields {
		d.CustomFields = append(d.CustomFields, links.CustomField{Name: kv.Key, Value: kv.Value})
	}
	return d
}

func parseLinkInput(form url.Values) linkInput {
	in := linkInput{Values: map[string]string{}, RemoveField: -1}
	for _, f := range linkFields {
		in.Values[f] = form.Get(f)
	}
	for _, f := range kycFields {
		name := "userKyc." + f.Key
		in.Values[name] = form.Get(name)
	}
	links.CleanFields(in.Values) // as bulk import reads a row
	keys, vals := form["customFields.key"], form["customFields.value"]
	for i := 0; i < len(keys) && i < links.MaxCustomFields+1; i++ {
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		in.CustomFields = append(in.CustomFields, views.KV{Key: strings.TrimSpace(keys[i]), Value: strings.TrimSpace(v)})
	}
	if form.Get("reminders.mode") == "own" || form.Get("reminders.mode") == "settings" {
		in.Values["reminders.mode"] = form.Get("reminders.mode")
		for _, k := range []string{"beforeOn", "beforeHours", "afterOn", "afterDays", "max"} {
			in.Values["reminders."+k] = strings.TrimSpace(form.Get("reminders." + k))
		}
	}
	in.FormToken = truncate(form.Get("form_token"), maxFormTokenSize)
	in.ReissueOf, _ = strconv.ParseInt(form.Get("reissue_of"), 10, 64)
	in.Confirmed = form.Get("confirm_duplicate") == "1"
	in.AddField = form.Get("add_field") != ""
	if r := form.Get("remove_field"); r != "" {
		if i, err := strconv.Atoi(r); err == nil {
			in.RemoveField = i
		}
	}
	return in
}

// newFormToken is the random id of one form submission: a double click, a
// resubmit or a second tab posting the same form finds the link it made.
func newFormToken() string { return rand.Text() }

// errorSummary lists errs in the form's order, each with the id of the
// field to focus (custom fields: the first name box).
func errorSummary(errs views.FieldErrors) []views.ErrorLink {
	order := []string{"userId", "userEmail", "userCountryCode", "amount", "currency", "websiteReference", "note", "customFields"}
	for _, f := range kycFields {
		order = append(order, "userKyc."+f.Key)
	}
	order = append(order, "reminders.beforeHours", "reminders.afterDays", "reminders.max", "successUrl", "supportUrl", "exitUrl", "errorUrl")
	var out []views.ErrorLink
	seen := map[string]bool{}
	add := func(name string) {
		if msg := errs[name]; msg != "" && !seen[name] {
			seen[name] = true
			id := name
			if name == "customFields" {
				id = "cf-key-0"
			}
			out = append(out, views.ErrorLink{FieldID: id, Message: msg})
		}
	}
	for _, name := range order {
		add(name)
	}
	rest := make([]string, 0, len(errs))
	for name := range errs {
		rest = append(rest, name)
	}
	slices.Sort(rest)
	for _, name := range rest {
		add(name)
	}
	return out
}

// amountLimitsHint says, beside the amount, what the chosen currency
// allows, and the admins' limits for the other currencies they set.
func (a *app) amountLimitsHint(st db.Settings, currency string) string {
	var b strings.Builder
	if currency != "" {
		if l := a.minter.Limits(st, currency); !l.Min.IsZero() || !l.Max.IsZero() {
			b.WriteString("Allowed in " + currency + ": " + l.String() + ".")
		}
	}
	var others []string
	for _, l := range st.CurrencyLimits {
		if l.Currency == currency {
			continue
		}
		if lim := a.minter.Limits(st, l.Currency); !lim.Min.IsZero() || !lim.Max.IsZero() {
			others = append(others, l.Currency+" "+lim.String())
		}
	}
	if len(others) > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("Other currencies with their own limits: " + strings.Join(others, "; ") + ".")
	}
	return b.String()
}

// defaults are the settings with built-in fallbacks: paylinks' own customer
// pages for the redirects, EUR.
func (a *app) defaults(st db.Settings) db.Settings {
	base := strings.TrimSuffix(a.opts.BaseURL.String(), "/")
	def := func(v, fallback string) string {
		if v == "" {
			return fallback
		}
		return v
	}
	st.SuccessURL = def(st.SuccessURL, base+a.url(RouteCustomer, "success"))
	st.SupportURL = def(st.SupportURL, base+a.url(RouteCustomer, "support"))
	st.ExitURL = def(st.ExitURL, base+a.url(RouteCustomer, "exit"))
	st.ErrorURL = def(st.ErrorURL, base+a.url(RouteCustomer, "error"))
	st.DefaultCurrency = def(st.DefaultCurrency, "EUR")
	return st
}

// formPage builds the new-link form view.
func (a *app) formPage(c echo.Context, in linkInput, errs views.FieldErrors, dups []db.Link, st db.Settings) views.LinkFormPage {
	p := views.LinkFormPage{
		Layout: a.layout(c, "New payment link", "links"), Action: a.url(RouteLinkCreate),
		Values: in.Values, CustomFields: in.CustomFields, Errors: errs,
		Countries: a.countryOptions,
		FormToken: in.FormToken, ReissueOf: in.ReissueOf, Confirmed: in.Confirmed,
		AmountLimits: a.amountLimitsHint(st, in.Values["currency"]),
	}
	if in.ReissueOf != 0 {
		p.ReissueURL = a.url(RouteLink, in.ReissueOf)
	}
	used, err := a.mostUsedCurrencies(c.Request().Context())
	if err != nil { // only the order is lost
		logFrom(c.Request().Context(), a.log).Warn("most used currencies", "err", err)
	}
	p.Currencies = currencyGroups(append([]string{st.DefaultCurrency}, used...))
	p.ReminderRule = st.ReminderRule().Describe()
	if in.Values["reminders.mode"] == "" { // not chosen yet: the own rule starts as the settings'
		for k, v := range reminderValues("reminders.", st.ReminderRule()) {
			p.Values[k] = v
		}
	}
	p.ErrorSummary = errorSummary(errs)
	if len(p.CustomFields) == 0 {
		p.CustomFields = []views.KV{{}}
	}
	for _, f := range kycFields {
		name := "userKyc." + f.Key
		kf := views.KYCField{Name: name, Label: f.Label, Type: "text", Value: in.Values[name]}
		switch f.Key {
		case "dateOfBirth":
			kf.Type = "date"
		case "mobilePhone":
			kf.Type = "tel"
		case "citizenshipCountryCode":
			kf.Options = a.countryOptions
		}
		if kf.Value != "" || errs[name] != "" {
			p.KYCOpen = true
		}
		p.KYC = append(p.KYC, kf)
	}
	for _, d := range dups {
		p.Duplicates = append(p.Duplicates, a.linkRow(d))
	}
	return p
}

func (a *app) newLinkForm(c echo.Context) error {
	ctx := c.Request().Context()
	st, err := a.store.GetSettings(ctx)
	if err != nil {
		return err
	}
	st = a.defaults(st)
	in := linkInput{FormToken: newFormToken(), RemoveField: -1, Values: map[string]string{
		"currency": st.DefaultCurrency, "userCountryCode": st.DefaultCountry,
		"successUrl": st.SuccessURL, "supportUrl": st.SupportURL, "exitUrl": st.ExitURL, "errorUrl": st.ErrorURL,
	}}
	if from := c.QueryParam("from"); from != "" {
		id, _ := strconv.ParseInt(from, 10, 64)
		old, err := a.store.LinkByID(ctx, id)
		if err != nil {
			return err
		}
		if !links.Reissuable(old) {
			return echo.NewHTTPError(http.StatusConflict, "only expired, failed or errored links can be re-issued")
		}
		in = inputFromLink(old, in)
	}
	return a.render(c, http.StatusOK, views.LinkForm(a.formPage(c, in, nil, nil, st)))
}

// inputFromLink prefills the form from an earlier link (re-issue).
func inputFromLink(l db.Link, in linkInput) linkInput {
	stored, _ := stablemint.NewAmount(l.AmountMinor, l.Currency)
	v := map[string]string{
		"userId": l.CustomerID, "userEmail": l.CustomerEmail, "userCountryCode": l.Country,
		"currency": l.Currency, "amount": stored.String(), "websiteReference": l.WebsiteReference, "note": l.Note,
		"successUrl": l.SuccessURL, "supportUrl": l.SupportURL, "exitUrl": l.ExitURL, "errorUrl": l.ErrorURL,
	}
	for k, val := range l.KYC {
		v["userKyc."+k] = val
	}
	in.Values = v
	keys := make([]string, 0, len(l.CustomFields))
	for k := range l.CustomFields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		in.CustomFields = append(in.CustomFields, views.KV{Key: k, Value: l.CustomFields[k]})
	}
	in.ReissueOf = l.ID
	return in
}

// createLink validates, guards against duplicates, commits the link in
// state creating with a fresh idempotency key, then mints it and shows it.
func (a *app) createLink(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ctx := c.Request().Context()
	in := parseLinkInput(form)
	if in.FormToken == "" {
		in.FormToken = newFormToken()
	}
	// again shows the form once more, with what was typed.
	problem := ""
	again := func(status int, errs views.FieldErrors, dups []db.Link) error {
		st, err := a.store.GetSettings(ctx)
		if err != nil {
			return err
		}
		p := a.formPage(c, in, errs, dups, st)
		p.Problem = problem
		return a.render(c, status, views.LinkForm(p))
	}

	// Adding or removing a custom-field row re-renders the form: no link.
	if in.AddField || in.RemoveField >= 0 {
		if in.RemoveField >= 0 && in.RemoveField < len(in.CustomFields) {
			in.CustomFields = slices.Delete(in.CustomFields, in.RemoveField, in.RemoveField+1)
		}
		if in.AddField && len(in.CustomFields) < links.MaxCustomFields {
			in.CustomFields = append(in.CustomFields, views.KV{})
		}
		return again(http.StatusOK, nil, nil)
	}

	d := in.draft()
	if in.Values["reminders.mode"] == "own" {
		// The link's own reminder rule: whole numbers here, the rule's
		// limits in the links service (links.Draft.Reminders).
		numErrs := views.FieldErrors{}
		r := parseReminderRule(form, "reminders.", map[string]string{}, numErrs)
		if len(numErrs) > 0 {
			return again(http.StatusUnprocessableEntity, numErrs, nil)
		}
		d.Reminders = &r
	}
	l, errs, err := a.minter.Create(ctx, d, currentUser(c).ID, a.auditEntry(c, "link.create"))
	if len(errs) > 0 {
		return again(http.StatusUnprocessableEntity, views.FieldErrors(errs), nil)
	}
	var dup *db.DuplicateError
	if errors.As(err, &dup) {
		return again(http.StatusConflict, nil, dup.Links)
	}
	var unsaved *links.UnsavedError
	if errors.As(err, &unsaved) {
		// StableMint answered; the disk refused the answer, which the
		// minter saves by itself later. The link's page says so.
		return a.redirect(c, a.url(RouteLink, l.ID))
	}
	var storage *db.StorageError
	if errors.As(err, &storage) && l.ID == 0 {
		// The disk refused the link before anything reached StableMint:
		// the form again, as typed, to send once it takes writes.
		problem = "paylinks cannot save anything right now: " + storage.Reason + ". Nothing was sent to StableMint. " +
			"Everything you typed is still here: press Create payment link again in a few minutes."
		c.Response().Header().Set("Retry-After", "60")
		return again(http.StatusServiceUnavailable, nil, nil)
	}
	if err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteLink, l.ID))
}

// retryLink re-sends a link in error with its idempotency key.
func (a *app) retryLink(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	err = a.minter.Retry(c.Request().Context(), l.ID, currentUser(c).ID, a.auditEntry(c, "link.retry"))
	if err != nil && !errors.Is(err, db.ErrConflict) { // conflict: not in error any more (a double click): show it
		return err
	}
	return a.redirect(c, a.url(RouteLink, l.ID))
}

// linkParam loads the :id link; a malformed or unknown id is 404.
func (a *app) linkParam(c echo.Context) (db.Link, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.Link{}, echo.NewHTTPError(http.StatusNotFound)
	}
	return a.store.LinkByID(c.Request().Context(), id)
}

func (a *app) linkRow(l db.Link) views.LinkRow {
	r := views.LinkRow{
		ID: l.ID, URL: a.url(RouteLink, l.ID), Status: string(l.Status), Amount: formatMoney(l.AmountMinor, l.Currency),
		Customer: l.CustomerID, CustomerEmail: l.CustomerEmail, WebsiteReference: l.WebsiteReference,
		Reference: l.SMReference, Created: when(time.UTC, l.CreatedAt), // the list is not handed the viewer (search.go)
	}
	if !l.ExpiresAt.IsZero() {
		r.Expires = when(time.UTC, l.ExpiresAt)
	}
	return r
}

func (a *app) link(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	return a.renderLink(c, l, http.StatusOK, nil, "")
}

// renderLink shows a link's page. cancel is a refused cancel form to show
// again (nil otherwise); problem a sentence for the top of the page.
func (a *app) renderLink(c echo.Context, l db.Link, status int, cancel *views.CancelForm, problem string) error {
	ctx := c.Request().Context()
	events, err := a.store.LinkTimeline(ctx, l.ID)
	if err != nil {
		return err
	}
	u := currentUser(c)
	canWrite := u.Role.AtLeast(paylink.RoleFinance)
	p := views.LinkPage{
		Layout: a.layout(c, "Link #"+strconv.FormatInt(l.ID, 10), "links"),
		ID:     l.ID, Status: string(l.Status), Amount: formatMoney(l.AmountMinor, l.Currency),
		CustomerID: l.CustomerID, CustomerEmail: l.CustomerEmail, Country: a.countryName(l.Country),
		WebsiteReference: l.WebsiteReference, Reference: l.SMReference, SessionID: l.SMSessionID,
		DepositReference: l.DepositReference, IdempotencyKey: l.IdempotencyKey, Note: l.Note,
		CreatedBy: l.CreatedByName, Created: when(viewerZone(c), l.CreatedAt), Problem: problem,
		Flags:     linkFlags(l),
		KYCMasked: !canWrite,
		RedirectURLs: []views.KV{{Key: "Success", Value: l.SuccessURL}, {Key: "Support", Value: l.SupportURL},
			{Key: "Exit", Value: l.ExitURL}, {Key: "Error", Value: l.ErrorURL}},
	}
	if l.CheckoutURL != "" && l.Status != paylink.StatusOpen {
		// A link that can no longer be paid (or is being paid) does not
		// offer its checkout: the URL stays readable under Details.
		p.RecordURL = l.CheckoutURL
	}
	if p.Actions, err = a.linkActions(c, l, cancel); err != nil {
		return err
	}
	if l.ReissueOf != 0 {
		p.ReissueOfID, p.ReissueOfURL = l.ReissueOf, a.url(RouteLink, l.ReissueOf)
	}
	if l.ReissuedAs != 0 {
		p.ReissuedAsID, p.ReissuedAsURL = l.ReissuedAs, a.url(RouteLink, l.ReissuedAs)
	}
	for _, k := range slices.Sorted(mapKeys(l.CustomFields)) {
		p.CustomFields = append(p.CustomFields, views.KV{Key: k, Value: l.CustomFields[k]})
	}
	for _, f := range kycFields {
		if v := l.KYC[f.Key]; v != "" {
			if !canWrite {
				v = mask(v)
			} else if f.Key == "citizenshipCountryCode" {
				v = a.countryName(v)
			}
			p.KYC = append(p.KYC, views.KV{Key: f.Label, Value: v})
		}
	}
	p.Timeline = a.timeline(c, events)
	if p.DeliveriesURL, p.Deliveries, err = a.linkDeliveries(c, l.ID); err != nil {
		return err
	}
	return a.render(c, status, views.Link(p))
}

// linkFlags are the warnings a link carries.
func linkFlags(l db.Link) views.LinkFlagSet {
	return views.LinkFlagSet{PaidAfterExpiry: l.PaidAfterExpiry, PaidAfterCancel: l.PaidAfterCancel, NeedsReview: l.NeedsReview}
}

// linkQR renders the checkout URL as a PNG QR code, encoded once per
// (link, checkout URL) and kept (handlers/qr.go). The image's ETag is a
// hash of the URL; the link page asks for it with that hash in the address
// (?v=), where it never changes, so the browser keeps it privately for a
// year; without the hash (or with an old one) it revalidates each time.
func (a *app) linkQR(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	if l.CheckoutURL == "" {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	v := qrVersion(l.CheckoutURL)
	etag := `"` + v + `"`
	h := c.Response().Header()
	h.Set("ETag", etag)
	if c.QueryParam("v") == v {
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "private, no-cache")
	}
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	png, err := a.qr.png(l.ID, l.CheckoutURL, v)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", png)
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 has it for If-None-Match).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// customerPage is the public page StableMint's redirects land on. It proves
// nothing about a payment: only a verified webhook changes a status.
func (a *app) customerPage(c echo.Context) error {
	texts := map[string][2]string{
		"success": {"Thank you", "Your payment was submitted. You will receive a confirmation once it has been processed; you can close this page."},
		"support": {"Need help with your payment?", "Reply to the email that brought you the payment link, quoting its reference, and we will help."},
		"exit":    {"Payment not completed", "You left the checkout before paying. You can use the same payment link again until it expires."},
		"error":   {"The payment did not go through", "Nothing was charged. You can try again with the same payment link, or contact us."},
	}
	status := http.StatusOK
	t, ok := texts[c.Param("page")]
	if !ok { // still the customer's page: the merchant's, not the staff's
		status, t = http.StatusNotFound, [2]string{"Page not found", "This address does not lead anywhere. Use the payment link you were sent, or contact us."}
	}
	return a.render(c, status, views.Customer(views.CustomerPage{Layout: a.layout(c, t[0], ""), Title: t[0], Message: t[1]}))
}

// kycFields are the KYC keys in form order (links.KYCKeys), with their
// labels.
var kycFields = func() []struct{ Key, Label string } {
	labels := map[string]string{
		"fullName": "Full name", "citizenshipCountryCode": "Citizenship country", "residenceAddress": "Residence address",
		"dateOfBirth": "Date of birth", "placeOfBirth": "Place of birth", "gender": "Gender",
		"mobilePhone": "Mobile phone", "personalIdentificationNumber": "Personal identification number",
	}
	out := make([]struct{ Key, Label string }, len(links.KYCKeys))
	for i, k := range links.KYCKeys {
		out[i].Key, out[i].Label = k, labels[k]
		if out[i].Label == "" {
			panic("handlers: no label for KYC field " + k)
		}
	}
	return out
}()

// approveCheckoutHost approves the checkout host a link's session is held
// on: the host joins the approved ones and every link held on it opens
// with the URL StableMint gave, audited, with no new StableMint call.
func (a *app) approveCheckoutHost(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	if l.HeldCheckoutHost == "" {
		return a.redirect(c, a.url(RouteLink, l.ID)) // approved already (a double click)
	}
	n, err := a.store.ApproveCheckoutHost(c.Request().Context(), l.HeldCheckoutHost, currentUser(c).ID, a.auditEntry(c, "checkout_host.approve"))
	if err != nil {
		return err
	}
	msg := "Approved " + l.HeldCheckoutHost + " as a checkout host: " + strconv.Itoa(n) + " link opened."
	if n != 1 {
		msg = "Approved " + l.HeldCheckoutHost + " as a checkout host: " + strconv.Itoa(n) + " links opened."
	}
	if err := a.flash(c, "ok", msg); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteLink, l.ID))
}
