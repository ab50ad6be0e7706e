package stablemint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field length limits (own picks; the contract states none except the
// idempotency key, capped at 255; docs/stablemint.md lists them all).
const (
	maxIDLength    = 255
	maxEmailLength = 254
	maxURLLength   = 2048
	maxTextLength  = 1024
)

// Request is the body of POST /session/hosted, field for field as the
// contract names them. Optional fields left empty are omitted from the JSON.
type Request struct {
	UserID           string
	UserEmail        string
	UserCountryCode  string // ISO 3166-1 alpha-2, upper case
	Currency         string // ISO 4217, upper case; must equal Amount.Currency
	Amount           Amount
	SuccessURL       string
	SupportURL       string
	ExitURL          string
	ErrorURL         string
	IdempotencyKey   string // optional in the contract; CreateHostedSession requires it
	WebsiteReference string
	CustomFields     map[string]string
	UserKYC          *KYC
}

// KYC is the optional userKyc object; every field is optional.
type KYC struct {
	FullName                     string `json:"fullName,omitempty"`
	CitizenshipCountryCode       string `json:"citizenshipCountryCode,omitempty"`
	ResidenceAddress             string `json:"residenceAddress,omitempty"`
	DateOfBirth                  string `json:"dateOfBirth,omitempty"` // YYYY-MM-DD
	PlaceOfBirth                 string `json:"placeOfBirth,omitempty"`
	Gender                       string `json:"gender,omitempty"`
	MobilePhone                  string `json:"mobilePhone,omitempty"`
	PersonalIdentificationNumber string `json:"personalIdentificationNumber,omitempty"`
}

// IsZero reports whether no KYC field is set; such a KYC is not sent.
func (k *KYC) IsZero() bool { return k == nil || *k == KYC{} }

// wireRequest fixes the JSON names and order of the contract.
type wireRequest struct {
	UserID           string `json:"userId"`
	UserEmail        string `json:"userEmail"`
	UserCountryCode  string `json:"userCountryCode"`
	Currency         string `json:"currency"`
	Amount           Amount `json:"amount"`
	SuccessURL       string `json:"successUrl"`
	SupportURL       string `json:"supportUrl"`
	ExitURL          string `json:"exitUrl"`
	ErrorURL         string `json:"errorUrl"`
	IdempotencyKey   string `json:"idempotencyKey,omitempty"`
	WebsiteReference string `json:"websiteReference,omitempty"`
	CustomFields     any    `json:"customFields,omitempty"` // map[string]string or string; nil when empty
	UserKYC          *KYC   `json:"userKyc,omitempty"`
}

// CustomFieldsFormat is how the request's customFields is written. The
// document shows an object ({}) in one example and "string" in its schema.
type CustomFieldsFormat string

const (
	// CustomFieldsObject sends a JSON object of strings:
	// "customFields":{"order":"A-1"}. The default.
	CustomFieldsObject CustomFieldsFormat = "object"
	// CustomFieldsString sends that object JSON-encoded into a string:
	// "customFields":"{\"order\":\"A-1\"}".
	CustomFieldsString CustomFieldsFormat = "string"
)

// ParseCustomFieldsFormat reads "object" or "string" ("" is object).
func ParseCustomFieldsFormat(s string) (CustomFieldsFormat, error) {
	switch CustomFieldsFormat(s) {
	case "", CustomFieldsObject:
		return CustomFieldsObject, nil
	case CustomFieldsString:
		return CustomFieldsString, nil
	}
	return "", fmt.Errorf("must be object or string, not %q", truncate(s, 16))
}

// MarshalJSON writes the contract's JSON: required fields always, optional
// ones only when non-empty, userKyc only when one of its fields is set, the
// amount as an exact number, customFields as an object. HTML characters are
// not escaped (json.Marshal of a Request re-escapes them: the same JSON in
// other bytes; the client sends its own encoding's bytes).
func (r Request) MarshalJSON() ([]byte, error) { return r.marshal(false) }

// marshal is MarshalJSON, with customFields JSON-encoded into a string
// when customFieldsAsString (keys sorted, HTML not escaped).
func (r Request) marshal(customFieldsAsString bool) ([]byte, error) {
	w := wireRequest{
		UserID: r.UserID, UserEmail: r.UserEmail, UserCountryCode: r.UserCountryCode,
		Currency: r.Currency, Amount: r.Amount,
		SuccessURL: r.SuccessURL, SupportURL: r.SupportURL, ExitURL: r.ExitURL, ErrorURL: r.ErrorURL,
		IdempotencyKey: r.IdempotencyKey, WebsiteReference: r.WebsiteReference,
	}
	if len(r.CustomFields) > 0 {
		if !customFieldsAsString {
			w.CustomFields = r.CustomFields
		} else {
			inner, err := encodeJSON(r.CustomFields)
			if err != nil {
				return nil, err
			}
			w.CustomFields = string(inner)
		}
	}
	if !r.UserKYC.IsZero() {
		w.UserKYC = r.UserKYC
	}
	return encodeJSON(w)
}

// encodeJSON is json.Marshal without HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Validate checks the request against the contract and limits, and returns
// every problem at once as ValidationErrors (nil when valid). It checks:
// required fields; email shape; alpha-2 country and ISO 4217 currency codes
// (upper case); Currency equal to Amount.Currency; an amount above zero and
// within limits, compared exactly; absolute http(s) URLs with a host and no
// user info; idempotency key of at most 255 visible ASCII characters; KYC
// date (YYYY-MM-DD, a real date) and citizenship country; no control
// characters anywhere; length caps. It does not require IdempotencyKey
// (CreateHostedSession does), so a form can be validated before a key is
// minted.
func (r Request) Validate(limits Limits) error {
	var v validator
	v.text("userId", "Customer ID", r.UserID, true, maxIDLength)
	v.email("userEmail", r.UserEmail)
	v.country("userCountryCode", "Customer country", r.UserCountryCode, true)
	v.currency(r.Currency)
	v.amount(r.Amount, r.Currency, limits)
	v.url("successUrl", "Success URL", r.SuccessURL)
	v.url("supportUrl", "Support URL", r.SupportURL)
	v.url("exitUrl", "Exit URL", r.ExitURL)
	v.url("errorUrl", "Error URL", r.ErrorURL)
	v.idempotencyKey(r.IdempotencyKey)
	v.text("websiteReference", "Website reference", r.WebsiteReference, false, maxIDLength)
	v.customFields(r.CustomFields)
	if r.UserKYC != nil {
		v.kyc(*r.UserKYC)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

// validator collects field errors.
type validator struct {
	errs ValidationErrors
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// text checks presence, length, UTF-8 and control characters.
func (v *validator) text(field, label, s string, required bool, maxLen int) bool {
	switch {
	case s == "":
		if required {
			v.add(field, "%s is required.", label)
		}
		return false
	case !utf8.ValidString(s):
		v.add(field, "%s contains invalid characters.", label)
	case hasControl(s):
		v.add(field, "%s must not contain line breaks or control characters.", label)
	case utf8.RuneCountInString(s) > maxLen:
		v.add(field, "%s must be at most %d characters.", label, maxLen)
	default:
		return true
	}
	return false
}

func (v *validator) email(field, s string) {
	if !v.text(field, "Customer email", s, true, maxEmailLength) {
		return
	}
	if !validEmail(s) {
		v.add(field, "Customer email must be an address like name@example.com.")
	}
}

// validEmail accepts a bare addr-spec whose domain has a dot.
func validEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") &&
		!strings.HasSuffix(domain, ".") && !strings.ContainsAny(s, " \"")
}

func (v *validator) country(field, label, code string, required bool) {
	if code == "" {
		if required {
			v.add(field, "%s is required.", label)
		}
		return
	}
	if !ValidCountry(code) {
		v.add(field, "%s must be a two-letter ISO 3166-1 code in capitals, such as DE.", label)
	}
}

func (v *validator) currency(code string) {
	switch {
	case code == "":
		v.add("currency", "Currency is required.")
	case !ValidCurrency(code):
		v.add("currency", "Currency must be a three-letter ISO 4217 code in capitals, such as EUR.")
	}
}

func (v *validator) amount(a Amount, currency string, limits Limits) {
	switch {
	case a == Amount{}:
		v.add("amount", "Amount is required.")
		return
	case currency != "" && a.Currency != currency:
		v.add("amount", "The amount's currency (%s) does not match the link's currency (%s).",
			truncate(a.Currency, 8), truncate(currency, 8))
		return
	}
	d, err := a.Decimal()
	switch {
	case err != nil:
		if currency == "" { // else already reported on the currency field
			v.add("amount", "The amount's currency is not an ISO 4217 code.")
		}
	case a.Minor <= 0:
		v.add("amount", "Amount must be greater than zero.")
	case !limits.Min.IsZero() && d.Cmp(limits.Min) < 0:
		v.add("amount", "Amount must be at least %s %s.", limits.Min, a.Currency)
	case !limits.Max.IsZero() && d.Cmp(limits.Max) > 0:
		v.add("amount", "Amount must be at most %s %s.", limits.Max, a.Currency)
	}
}

func (v *validator) url(field, label, s string) {
	if !v.text(field, label, s, true, maxURLLength) {
		return
	}
	if err := checkRedirectURL(s); err != "" {
		v.add(field, "%s %s.", label, err)
	}
}

// checkRedirectURL returns "" for an absolute http(s) URL with a host and no
// user info, else what is wrong, as the end of a sentence.
func checkRedirectURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || strings.ContainsAny(s, " \\"):
		return "is not a valid web address"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with https:// or http://"
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "must be an absolute address with a host, such as https://example.com/paid"
	case u.User != nil:
		return "must not contain a user name or password"
	}
	return ""
}

func (v *validator) idempotencyKey(s string) {
	if s == "" {
		return
	}
	if len(s) > maxIDLength {
		v.add("idempotencyKey", "Idempotency key must be at most %d characters.", maxIDLength)
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			v.add("idempotencyKey", "Idempotency key may only contain visible ASCII characters.")
			return
		}
	}
}

func (v *validator) customFields(m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" {
			v.add("customFields", "Custom field names must not be empty.")
			continue
		}
		if v.text("customFields", "Custom field name "+quoteShort(k), k, true, maxIDLength) {
			v.text("customFields", "Custom field "+quoteShort(k), m[k], false, maxTextLength)
		}
	}
}

func (v *validator) kyc(k KYC) {
	v.text("userKyc.fullName", "Full name", k.FullName, false, maxTextLength)
	v.country("userKyc.citizenshipCountryCode", "Citizenship country", k.CitizenshipCountryCode, false)
	v.text("userKyc.residenceAddress", "Residence address", k.ResidenceAddress, false, maxTextLength)
	if k.DateOfBirth != "" {
		if _, err := time.Parse(time.DateOnly, k.DateOfBirth); err != nil || len(k.DateOfBirth) != len(time.DateOnly) {
			v.add("userKyc.dateOfBirth", "Date of birth must be a real date written YYYY-MM-DD, such as 1990-04-23.")
		}
	}
	v.text("userKyc.placeOfBirth", "Place of birth", k.PlaceOfBirth, false, maxTextLength)
	v.text("userKyc.gender", "Gender", k.Gender, false, maxIDLength)
	v.text("userKyc.mobilePhone", "Mobile phone", k.MobilePhone, false, maxIDLength)
	v.text("userKyc.personalIdentificationNumber", "Personal identification number", k.PersonalIdentificationNumber, false, maxIDLength)
}

// hasControl reports any Unicode control or format-breaking character
// (C0, DEL, C1, line and paragraph separators).
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}

func quoteShort(s string) string { return fmt.Sprintf("%q", truncate(s, 40)) }
