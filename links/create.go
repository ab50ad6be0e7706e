package links

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/stablemint"
)

// Limits of a draft beyond StableMint's own.
const (
	MaxNoteLength   = 2000
	MaxCustomFields = 20
)

// KYCKeys are the KYC fields StableMint takes, in the order forms show them.
var KYCKeys = []string{"fullName", "citizenshipCountryCode", "residenceAddress", "dateOfBirth", "placeOfBirth",
	"gender", "mobilePhone", "personalIdentificationNumber"}

// Draft is a new link as staff describe it, raw text by the form's (and
// the API's) field names: userId, userEmail, userCountryCode, currency,
// amount, websiteReference, note, successUrl, supportUrl, exitUrl,
// errorUrl and userKyc.<key>. Nothing in it can set a status, an owner or
// StableMint's fields.
type Draft struct {
	Fields       map[string]string
	CustomFields []CustomField
	// FormToken identifies one submission: the same token again finds the
	// link it made (a double click, a resubmitted form).
	FormToken string
	// ReissueOf is the link this one replaces, when that link can no longer
	// be paid; otherwise it is ignored.
	ReissueOf int64
	// AllowDuplicate creates the link although an unfinished one has the
	// same customer, reference and amount.
	AllowDuplicate bool
	// Reminders, when set, is the link's own reminder rule instead of the
	// settings' (problems come back under reminders.beforeHours,
	// reminders.afterDays and reminders.max). The API and bulk import set
	// it; the new-link form does not yet.
	Reminders *db.ReminderRule
	// Claim is the API's Idempotency-Key claim, stored in the link's
	// creating transaction (db.NewLink.Claim); nil for the pages and import.
	Claim *db.IdemClaim
}

// FormFields are the draft's plain fields by the form's names, in the
// form's order (userKyc.<key> for each of KYCKeys come after them).
var FormFields = []string{"userId", "userEmail", "userCountryCode", "currency", "amount", "websiteReference",
	"note", "successUrl", "supportUrl", "exitUrl", "errorUrl"}

// CleanFields tidies raw field values as every way in reads them before
// Validate: spaces around each value trimmed, country and currency codes
// in capitals. The form and bulk import both call it, so a value gets the
// same verdict from either.
func CleanFields(v map[string]string) {
	for k, s := range v {
		v[k] = strings.TrimSpace(s)
	}
	for _, k := range []string{"userCountryCode", "currency", "userKyc.citizenshipCountryCode"} {
		if s, ok := v[k]; ok {
			v[k] = strings.ToUpper(s)
		}
	}
}

// CustomField is one name and value the merchant passes through StableMint.
type CustomField struct{ Name, Value string }

// FieldErrors are a draft's problems, by field name, in staff's words.
type FieldErrors map[string]string

// Limits are the amounts a new link in currency may carry now:
// StableMint's, narrowed by the admins' settings for that currency (its own
// row, else the limits for every other currency).
func (m *Minter) Limits(st db.Settings, currency string) stablemint.Limits {
	l := m.client.Limits()
	min, max := st.LimitsFor(currency)
	if d, err := stablemint.ParseDecimal(min); err == nil && min != "" && d.Cmp(l.Min) > 0 {
		l.Min = d
	}
	if d, err := stablemint.ParseDecimal(max); err == nil && max != "" && (l.Max.IsZero() || d.Cmp(l.Max) < 0) {
		l.Max = d
	}
	return l
}

// Create makes a link from a draft: it validates it (problems come back as
// FieldErrors, and nothing is stored), commits the link in state creating
// with a fresh idempotency key, then mints it at StableMint. A draft whose
// form token was used before returns the link that token made, not minted
// again. An unfinished link with the same customer, reference and amount
// refuses the draft with a *db.DuplicateError unless AllowDuplicate. A
// failed mint is not an error here: the link, in error, says why. A mint
// whose answer the disk refused returns the link (still creating) and an
// *UnsavedError: the answer is saved by itself once the disk takes writes.
func (m *Minter) Create(ctx context.Context, d Draft, createdBy int64, a db.AuditEntry) (db.Link, FieldErrors, error) {
	st, err := m.store.GetSettings(ctx)
	if err != nil {
		return db.Link{}, nil, err
	}
	req, errs := d.Validate(m.Limits(st, strings.ToUpper(strings.TrimSpace(d.Fields["currency"]))), m.now())
	if d.Reminders != nil {
		for field, msg := range d.Reminders.Validate() {
			if errs == nil {
				errs = FieldErrors{}
			}
			errs["reminders."+field] = msg
		}
	}
	if len(errs) > 0 {
		return db.Link{}, errs, nil
	}
	if d.ReissueOf != 0 {
		old, err := m.store.LinkByID(ctx, d.ReissueOf)
		if err != nil || !Reissuable(old) {
			d.ReissueOf = 0
		}
	}
	if d.ReissueOf != 0 {
		a.Action = "link.reissue"
		a.Details = "reissue of link:" + strconv.FormatInt(d.ReissueOf, 10)
	}
	l, created, err := m.store.CreateLink(ctx, NewLink(d, req, createdBy), a)
	if err != nil {
		return db.Link{}, nil, err
	}
	if !created {
		return l, nil, nil
	}
	// The link's own reminder rule is committed before the mint, so before
	// it can be emailed. It is a second transaction: a crash between the
	// two leaves the link on the settings' rule (staff can set it on the
	// link page).
	if d.Reminders != nil {
		ra := a
		ra.Action, ra.Details = "link.reminders", ""
		if err := m.store.SetLinkReminders(ctx, l.ID, d.Reminders, createdBy, ra); err != nil {
			m.log.Warn("link reminders", "link_id", l.ID, "err", err)
		}
	}
	// The call outlives a closed browser tab (MintCreated detaches it): the
	// link exists, so its caller gets it, as the call left it.
	if err := m.MintCreated(ctx, &l); err != nil {
		m.log.Warn("mint", "link_id", l.ID, "err", err)
		if u := (*UnsavedError)(nil); errors.As(err, &u) {
			return l, nil, u // the link exists; its StableMint answer waits in memory
		}
	}
	return l, nil, nil
}

// NewLink is the link to store for a draft Validate accepted as req, with
// a fresh idempotency key: the form (through Create) and bulk import store
// the same thing for the same draft.
func NewLink(d Draft, req stablemint.Request, createdBy int64) db.NewLink {
	return db.NewLink{
		IdempotencyKey: uuid.NewString(), FormToken: d.FormToken,
		CustomerID: req.UserID, CustomerEmail: req.UserEmail, Country: req.UserCountryCode,
		AmountMinor: req.Amount.Minor, AmountText: req.Amount.String(), Currency: req.Currency, WebsiteReference: req.WebsiteReference,
		Note: d.Fields["note"], CustomFields: req.CustomFields, KYC: d.KYC(),
		SuccessURL: req.SuccessURL, SupportURL: req.SupportURL, ExitURL: req.ExitURL, ErrorURL: req.ErrorURL,
		ReissueOf: d.ReissueOf, CreatedBy: createdBy, AllowDuplicate: d.AllowDuplicate, Claim: d.Claim,
	}
}

// Reissuable reports whether staff may re-issue l (a new link, a new
// StableMint session, with the same details): it can no longer be paid
// (paylink.Status.Reissuable) and no session of it waits for an admin to
// approve its checkout host; that one is approved, not replaced.
func Reissuable(l db.Link) bool {
	return l.Status.Reissuable() && l.HeldCheckoutHost == ""
}

// Retry sends a link in error to StableMint again, with its idempotency
// key, so StableMint returns the session it may already have made. A link
// no longer in error (a double click) is db.ErrConflict.
func (m *Minter) Retry(ctx context.Context, id, actor int64, a db.AuditEntry) error {
	if err := m.store.RetryLink(ctx, id, actor, a); err != nil {
		return err
	}
	if err := m.Mint(ctx, id); err != nil {
		m.log.Warn("mint retry", "link_id", id, "err", err)
	}
	return nil
}

var phoneRE = regexp.MustCompile(`^\+?[0-9][0-9 ()./-]{5,24}$`)

// Validate builds the StableMint request from the draft and collects every
// problem by field name, in staff's words. The amount is parsed exactly in
// the chosen currency. Every way in (the form, and later the API and bulk
// import) gets the same verdicts and messages from here.
func (d Draft) Validate(limits stablemint.Limits, now time.Time) (stablemint.Request, FieldErrors) {
	errs := FieldErrors{}
	v := d.Fields
	req := stablemint.Request{
		UserID: v["userId"], UserEmail: v["userEmail"], UserCountryCode: v["userCountryCode"], Currency: v["currency"],
		SuccessURL: v["successUrl"], SupportURL: v["supportUrl"], ExitURL: v["exitUrl"], ErrorURL: v["errorUrl"],
		WebsiteReference: v["websiteReference"],
		IdempotencyKey:   "00000000-0000-4000-8000-000000000000", // placeholder: the real key is minted on commit
	}
	parsed := false // the amount was read: StableMint's limits apply to it, zero too
	if v["amount"] == "" {
		errs["amount"] = "Enter an amount."
	} else if stablemint.ValidCurrency(v["currency"]) {
		number, written, fits := splitAmountCurrency(v["amount"], v["currency"])
		if !fits {
			errs["amount"] = "The amount is written in " + written + ", but the currency chosen is " + v["currency"] +
				". Change one of them so they agree."
		} else if a, err := stablemint.ParseAmount(number, v["currency"]); err != nil {
			errs["amount"] = amountMessage(err, number, v["currency"])
		} else {
			req.Amount, parsed = a, true
		}
	}
	seen := map[string]bool{}
	for _, kv := range d.CustomFields {
		if kv.Name == "" && kv.Value == "" {
			continue
		}
		if kv.Name == "" {
			errs["customFields"] = "Give every custom field a name (or clear its value)."
			continue
		}
		if seen[kv.Name] {
			errs["customFields"] = "Custom field names must be unique: " + strconv.Quote(kv.Name) + " appears twice."
		}
		seen[kv.Name] = true
		if req.CustomFields == nil {
			req.CustomFields = map[string]string{}
		}
		req.CustomFields[kv.Name] = kv.Value
	}
	if len(seen) > MaxCustomFields {
		errs["customFields"] = fmt.Sprintf("At most %d custom fields.", MaxCustomFields)
	}
	kyc := kycFromMap(d.KYC())
	if !kyc.IsZero() {
		req.UserKYC = &kyc
	}
	if p := kyc.MobilePhone; p != "" && !validPhone(p) {
		errs["userKyc.mobilePhone"] = "Enter a phone number with its country code, like +44 20 7946 0958."
	}
	if d := kyc.DateOfBirth; d != "" {
		if t, err := time.Parse(time.DateOnly, d); err == nil && t.After(now) {
			errs["userKyc.dateOfBirth"] = "The date of birth cannot be in the future."
		}
	}
	if len(v["note"]) > MaxNoteLength {
		errs["note"] = fmt.Sprintf("Keep the note under %d characters.", MaxNoteLength)
	}
	if err := req.Validate(limits); err != nil {
		var list stablemint.ValidationErrors
		if errors.As(err, &list) {
			for _, fe := range list {
				if _, taken := errs[fe.Field]; !taken && !(fe.Field == "amount" && !parsed) {
					errs[fe.Field] = fe.Message
				}
			}
		}
	}
	if errs["amount"] == "" && req.Amount.IsZero() && v["amount"] != "" && !stablemint.ValidCurrency(v["currency"]) {
		errs["amount"] = "Choose a currency first."
	}
	return req, errs
}

func validPhone(p string) bool {
	if !phoneRE.MatchString(p) {
		return false
	}
	digits := 0
	for _, r := range p {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits >= 7 && digits <= 15
}

// amountMessage explains, in staff's words, why the parser refused input
// as an amount in currency. It chooses by the stablemint package's
// sentinel errors, never by an error's text.
func amountMessage(err error, input, currency string) string {
	exp, _ := stablemint.CurrencyExponent(currency)
	whole := currency + " has no minor unit: enter a whole number."
	switch {
	case errors.Is(err, stablemint.ErrTooManyDecimals):
		if exp == 0 {
			return whole
		}
		return fmt.Sprintf("%s has %d decimal places at most.", currency, exp)
	case exp == 0 && (errors.Is(err, stablemint.ErrNoDecimalDigits) || errors.Is(err, stablemint.ErrNoLeadingDigit) ||
		errors.Is(err, stablemint.ErrFractionDigits)):
		return whole
	case errors.Is(err, stablemint.ErrNegativeAmount):
		return "The amount must be positive."
	case errors.Is(err, stablemint.ErrAmbiguousAmount):
		// The one comma is either a thousands separator or the decimal
		// one: offer both readings, written so the parser takes each.
		in := strings.TrimSpace(input)
		digits := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || r == '\u202f' || r == '\u2007' {
				return -1
			}
			return r
		}, in)
		dec := strings.Replace(digits, ",", ".", 1)
		if strings.HasPrefix(dec, ".") {
			dec = "0" + dec
		}
		return fmt.Sprintf("%s is ambiguous in %s, which has %d decimal places: write %s for the whole number, or %s with a point for the decimals.",
			in, currency, exp, strings.TrimLeft(strings.ReplaceAll(digits, ",", ""), "0"), dec)
	case errors.Is(err, stablemint.ErrAmountOverflow):
		return "The amount is too large."
	case errors.Is(err, stablemint.ErrNoDecimalDigits):
		return "Write digits after the decimal point, as in 5.00, or leave the point out."
	case errors.Is(err, stablemint.ErrNoLeadingDigit):
		return "Write a 0 before the decimal point, as in 0.50."
	case errors.Is(err, stablemint.ErrFractionDigits):
		return "Write only digits after the decimal point, as in 10.50."
	case errors.Is(err, stablemint.ErrSeparatorTwice), errors.Is(err, stablemint.ErrAmountGrouping):
		return "Use one decimal point at most, and group thousands by three digits, as in 1 250.50 or 1,250.50."
	}
	return "Enter the amount as a number, like 10.50 or 1 250."
}

// KYC is the draft's KYC answers, keyed by StableMint's field names.
func (d Draft) KYC() map[string]string {
	m := map[string]string{}
	for _, k := range KYCKeys {
		if v := d.Fields["userKyc."+k]; v != "" {
			m[k] = v
		}
	}
	return m
}
