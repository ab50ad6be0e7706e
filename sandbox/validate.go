package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sandbox amount limits, inclusive (docs/stablemint.md: "StableMint's sandbox
// accepts 0.1 to 10 inclusive").
var (
	minAmount = big.NewRat(1, 10)
	maxAmount = big.NewRat(10, 1)
)

const maxIdempotencyKeyLen = 255

// createRequest is a validated POST /session/hosted body.
type createRequest struct {
	UserID           string            `json:"userId"`
	UserEmail        string            `json:"userEmail"`
	UserCountryCode  string            `json:"userCountryCode"`
	Currency         string            `json:"currency"`
	Amount           json.Number       `json:"amount"` // exactly as received
	SuccessURL       string            `json:"successUrl"`
	SupportURL       string            `json:"supportUrl"`
	ExitURL          string            `json:"exitUrl"`
	ErrorURL         string            `json:"errorUrl"`
	IdempotencyKey   string            `json:"idempotencyKey,omitempty"`
	WebsiteReference string            `json:"websiteReference,omitempty"`
	CustomFields     map[string]string `json:"customFields,omitempty"`
	UserKyc          map[string]string `json:"userKyc,omitempty"`

	amount *big.Rat // exact value of Amount
}

// fingerprint is the request's content for idempotency comparison: every
// field, with the amount compared by value (10.5 and 10.50 are the same
// content), independent of key order and whitespace in the raw body.
func (r *createRequest) fingerprint() string {
	b, err := json.Marshal(struct {
		createRequest
		Amount string `json:"amount"` // shadows the embedded field
	}{*r, r.amount.RatString()})
	if err != nil { // cannot happen: strings and string maps only
		panic(err)
	}
	return string(b)
}

// fieldError names the first invalid field of a request.
type fieldError struct {
	Field string
	Msg   string
}

func (e *fieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Field order of the contract table; the first invalid one is reported.
var (
	requiredStringFields = []string{"userId", "userEmail", "userCountryCode", "currency"}
	urlFields            = []string{"successUrl", "supportUrl", "exitUrl", "errorUrl"}
	knownFields          = setOf(`userId userEmail userCountryCode currency amount
		successUrl supportUrl exitUrl errorUrl idempotencyKey websiteReference customFields userKyc`)
	kycFields = []string{"fullName", "citizenshipCountryCode", "residenceAddress", "dateOfBirth",
		"placeOfBirth", "gender", "mobilePhone", "personalIdentificationNumber"}
)

// plainDecimal is a JSON number without exponent.
var plainDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// maxExponent bounds an amount's exponent so that an exact value never
// costs more than a few kilobytes ("1e999999999" is refused, not computed).
const maxExponent = 1000

// decodeObject reads exactly one JSON object, numbers as json.Number.
func decodeObject(b []byte) (map[string]any, string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, "is not valid JSON"
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "has data after the JSON object"
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, "must be a JSON object"
	}
	return obj, ""
}

// parseCreateRequest decodes and validates a POST /session/hosted body with
// the rules of StableMint's document (docs/stablemint.md), or with strict,
// with those and paylinks' own stricter conventions. It never goes through
// float64: numbers are kept as json.Number text and compared as exact
// rationals.
func parseCreateRequest(body []byte, strict bool) (*createRequest, *fieldError) {
	obj, msg := decodeObject(body)
	if msg != "" {
		return nil, &fieldError{"", "body " + msg}
	}

	req := &createRequest{}
	strs := []*string{&req.UserID, &req.UserEmail, &req.UserCountryCode, &req.Currency}
	for i, name := range requiredStringFields {
		s, ferr := requiredString(obj, name, strict)
		if ferr != nil {
			return nil, ferr
		}
		*strs[i] = s
	}
	a, err := mail.ParseAddress(req.UserEmail)
	if err != nil {
		return nil, &fieldError{"userEmail", "must be an email address"}
	}
	if strict && (a.Address != req.UserEmail || a.Name != "") {
		return nil, &fieldError{"userEmail", "must be a plain email address, without a display name"}
	}
	if !countryCodes[req.UserCountryCode] {
		return nil, &fieldError{"userCountryCode", "must be an ISO 3166-1 alpha-2 code in upper case"}
	}
	digits, ok := currencyDigits[req.Currency]
	if !ok {
		return nil, &fieldError{"currency", "must be an active ISO 4217 currency code in upper case"}
	}

	v, present := obj["amount"]
	if !present || v == nil {
		return nil, &fieldError{"amount", "is required"}
	}
	num, ok := v.(json.Number)
	if !ok {
		return nil, &fieldError{"amount", "must be a JSON number"}
	}
	amount, msg := checkAmount(num, digits, req.Currency, strict)
	if msg != "" {
		return nil, &fieldError{"amount", msg}
	}
	req.Amount, req.amount = num, amount

	urls := []*string{&req.SuccessURL, &req.SupportURL, &req.ExitURL, &req.ErrorURL}
	for i, name := range urlFields {
		s, ferr := requiredString(obj, name, strict)
		if ferr != nil {
			return nil, ferr
		}
		if !absoluteURL(s) {
			return nil, &fieldError{name, "must be an absolute URL with a host"}
		}
		if strict && !absoluteHTTPURL(s) {
			return nil, &fieldError{name, "must be an absolute http or https URL with a host"}
		}
		*urls[i] = s
	}

	var ferr *fieldError
	if req.IdempotencyKey, ferr = optionalString(obj, "idempotencyKey", strict); ferr != nil {
		return nil, ferr
	}
	if strict && utf8.RuneCountInString(req.IdempotencyKey) > maxIdempotencyKeyLen {
		return nil, &fieldError{"idempotencyKey", fmt.Sprintf("must be at most %d characters", maxIdempotencyKeyLen)}
	}
	if req.WebsiteReference, ferr = optionalString(obj, "websiteReference", strict); ferr != nil {
		return nil, ferr
	}
	if req.CustomFields, ferr = customFields(obj, strict); ferr != nil {
		return nil, ferr
	}
	if req.UserKyc, ferr = userKyc(obj, strict); ferr != nil {
		return nil, ferr
	}

	if strict {
		var unknown []string
		for k := range obj {
			if !knownFields[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return nil, &fieldError{unknown[0], "is not a field of this endpoint"}
		}
	}
	return req, nil
}

// requiredString is a present, non-empty string; strict also refuses one of
// spaces only.
func requiredString(obj map[string]any, name string, strict bool) (string, *fieldError) {
	v, ok := obj[name]
	if !ok || v == nil {
		return "", &fieldError{name, "is required"}
	}
	s, ok := v.(string)
	if !ok {
		return "", &fieldError{name, "must be a string"}
	}
	if s == "" || strict && strings.TrimSpace(s) == "" {
		return "", &fieldError{name, "must not be empty"}
	}
	return s, nil
}

// optionalString returns "" when the field is absent, null or "": the
// document asks senders to omit empty optional fields, and an empty value
// is read as an absent one. strict refuses null, "" and spaces instead.
func optionalString(obj map[string]any, name string, strict bool) (string, *fieldError) {
	v, ok := obj[name]
	if !ok || v == nil && !strict {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &fieldError{name, "must be a string (omit the field when empty)"}
	}
	if strict && strings.TrimSpace(s) == "" {
		return "", &fieldError{name, "must be omitted rather than empty"}
	}
	return s, nil
}

// customFields is the document's "string-to-string map", sent as an object
// or as a string holding that object JSON-encoded. Absent, null, "" and {}
// are no fields; strict refuses the last three, and empty keys.
func customFields(obj map[string]any, strict bool) (map[string]string, *fieldError) {
	const shape = "must be an object of strings, or that object JSON-encoded in a string"
	v, ok := obj["customFields"]
	if !ok {
		return nil, nil
	}
	if s, isString := v.(string); isString && s != "" {
		m, msg := decodeObject([]byte(s))
		if msg != "" {
			return nil, &fieldError{"customFields", shape + " (the string " + msg + ")"}
		}
		v = m
	}
	var m map[string]any
	switch x := v.(type) {
	case nil, string: // null or "": no fields
	case map[string]any:
		m = x
	default:
		return nil, &fieldError{"customFields", shape}
	}
	if len(m) == 0 {
		if strict {
			return nil, &fieldError{"customFields", "must be omitted rather than empty"}
		}
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		s, ok := m[k].(string)
		if !ok {
			return nil, &fieldError{"customFields." + k, "must be a string"}
		}
		if strict && k == "" {
			return nil, &fieldError{"customFields", "keys must not be empty"}
		}
		out[k] = s
	}
	return out, nil
}

// userKyc keeps the eight documented fields that have a value. Absent, null
// and {} are no KYC, and unknown fields are ignored; strict refuses them,
// and also wants citizenshipCountryCode to be an ISO 3166-1 alpha-2 code.
func userKyc(obj map[string]any, strict bool) (map[string]string, *fieldError) {
	v, ok := obj["userKyc"]
	if !ok || v == nil && !strict {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &fieldError{"userKyc", "must be an object (omit the field when empty)"}
	}
	if strict && len(m) == 0 {
		return nil, &fieldError{"userKyc", "must be omitted rather than empty"}
	}
	out := make(map[string]string, len(m))
	for _, k := range kycFields {
		s, ferr := optionalString(m, k, strict)
		if ferr != nil {
			ferr.Field = "userKyc." + k
			return nil, ferr
		}
		if s != "" {
			out[k] = s
		}
	}
	if d, ok := out["dateOfBirth"]; ok {
		if t, err := time.Parse(time.DateOnly, d); err != nil || t.Format(time.DateOnly) != d {
			return nil, &fieldError{"userKyc.dateOfBirth", "must be a date written YYYY-MM-DD"}
		}
	}
	if !strict {
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if c, ok := out["citizenshipCountryCode"]; ok && !countryCodes[c] {
		return nil, &fieldError{"userKyc.citizenshipCountryCode", "must be an ISO 3166-1 alpha-2 code in upper case"}
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(kycFields, k) {
			return nil, &fieldError{"userKyc." + k, "is not a field of userKyc"}
		}
	}
	return out, nil
}

// checkAmount validates the JSON number text n for a currency with the given
// minor digits. It returns the exact value, or a message. Any JSON number is
// read exactly, exponent and extra zeros included ("1e1", "9.500" EUR), but
// a value finer than the currency's minor unit ("1.005" EUR) is refused,
// never rounded. strict also wants it written as paylinks writes amounts: no
// exponent, no more decimals than the currency has.
func checkAmount(n json.Number, digits int, currency string, strict bool) (*big.Rat, string) {
	s := string(n)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(s[i+1:]); err != nil || exp > maxExponent || exp < -maxExponent {
			return nil, fmt.Sprintf("has an exponent beyond ±%d", maxExponent)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok { // cannot happen: the decoder only lets JSON numbers through
		return nil, "must be a JSON number"
	}
	if r.Cmp(minAmount) < 0 || r.Cmp(maxAmount) > 0 {
		return nil, "must be between 0.1 and 10 inclusive (sandbox limits)"
	}
	minor := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)))
	if !minor.IsInt() {
		return nil, fmt.Sprintf("is finer than %s's %d decimal places: it would have to be rounded", currency, digits)
	}
	if !strict {
		return r, ""
	}
	if !plainDecimal.MatchString(s) {
		return nil, "must be a plain decimal number, without exponent"
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > digits {
		return nil, fmt.Sprintf("has %d decimal places; %s allows %d", len(s)-i-1, currency, digits)
	}
	return r, ""
}

// absoluteURL is the document's "absolute URL": a scheme and a host.
func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Opaque == "" && u.Hostname() != ""
}

// absoluteHTTPURL is an absolute http or https URL with a host.
func absoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Opaque == "" && u.Hostname() != ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
