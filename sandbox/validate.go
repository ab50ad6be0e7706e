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

// parseCreateRequest decodes and validates a POST /session/hosted body. It
// never goes through float64: numbers are kept as json.Number text and
// compared as exact rationals.
func parseCreateRequest(body []byte) (*createRequest, *fieldError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, &fieldError{"", "body is not valid JSON"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &fieldError{"", "body has data after the JSON object"}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, &fieldError{"", "body must be a JSON object"}
	}

	req := &createRequest{}
	strs := []*string{&req.UserID, &req.UserEmail, &req.UserCountryCode, &req.Currency}
	for i, name := range requiredStringFields {
		s, ferr := requiredString(obj, name)
		if ferr != nil {
			return nil, ferr
		}
		*strs[i] = s
	}
	if a, err := mail.ParseAddress(req.UserEmail); err != nil || a.Address != req.UserEmail || a.Name != "" {
		return nil, &fieldError{"userEmail", "must be a plain email address"}
	}
	if !countryCodes[req.UserCountryCode] {
		return nil, &fieldError{"userCountryCode", "must be an ISO 3166-1 alpha-2 code in upper case"}
	}
	digits, ok := currencyDigits[req.Currency]
	if !ok {
		return nil, &fieldError{"currency", "must be an ISO 4217 currency code in upper case"}
	}

	v, present := obj["amount"]
	if !present || v == nil {
		return nil, &fieldError{"amount", "is required"}
	}
	num, ok := v.(json.Number)
	if !ok {
		return nil, &fieldError{"amount", "must be a JSON number"}
	}
	amount, msg := checkAmount(num, digits, req.Currency)
	if msg != "" {
		return nil, &fieldError{"amount", msg}
	}
	req.Amount, req.amount = num, amount

	urls := []*string{&req.SuccessURL, &req.SupportURL, &req.ExitURL, &req.ErrorURL}
	for i, name := range urlFields {
		s, ferr := requiredString(obj, name)
		if ferr != nil {
			return nil, ferr
		}
		if !absoluteHTTPURL(s) {
			return nil, &fieldError{name, "must be an absolute http or https URL with a host"}
		}
		*urls[i] = s
	}

	var ferr *fieldError
	if req.IdempotencyKey, ferr = optionalString(obj, "idempotencyKey"); ferr != nil {
		return nil, ferr
	}
	if utf8.RuneCountInString(req.IdempotencyKey) > maxIdempotencyKeyLen {
		return nil, &fieldError{"idempotencyKey", fmt.Sprintf("must be at most %d characters", maxIdempotencyKeyLen)}
	}
	if req.WebsiteReference, ferr = optionalString(obj, "websiteReference"); ferr != nil {
		return nil, ferr
	}
	if req.CustomFields, ferr = customFields(obj); ferr != nil {
		return nil, ferr
	}
	if req.UserKyc, ferr = userKyc(obj); ferr != nil {
		return nil, ferr
	}

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
	return req, nil
}

func requiredString(obj map[string]any, name string) (string, *fieldError) {
	v, ok := obj[name]
	if !ok || v == nil {
		return "", &fieldError{name, "is required"}
	}
	s, ok := v.(string)
	if !ok {
		return "", &fieldError{name, "must be a string"}
	}
	if strings.TrimSpace(s) == "" {
		return "", &fieldError{name, "must not be empty"}
	}
	return s, nil
}

// optionalString returns "" when the field is absent. A present field must be
// a non-empty string: the contract says to omit empty optional fields, so
// null and "" are refused.
func optionalString(obj map[string]any, name string) (string, *fieldError) {
	v, ok := obj[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &fieldError{name, "must be a string (omit the field when empty)"}
	}
	if strings.TrimSpace(s) == "" {
		return "", &fieldError{name, "must be omitted rather than empty"}
	}
	return s, nil
}

func customFields(obj map[string]any) (map[string]string, *fieldError) {
	v, ok := obj["customFields"]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &fieldError{"customFields", "must be an object of strings (omit the field when empty)"}
	}
	if len(m) == 0 {
		return nil, &fieldError{"customFields", "must be omitted rather than empty"}
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		if k == "" {
			return nil, &fieldError{"customFields", "keys must not be empty"}
		}
		s, ok := m[k].(string)
		if !ok {
			return nil, &fieldError{"customFields." + k, "must be a string"}
		}
		out[k] = s
	}
	return out, nil
}

func userKyc(obj map[string]any) (map[string]string, *fieldError) {
	v, ok := obj["userKyc"]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &fieldError{"userKyc", "must be an object (omit the field when empty)"}
	}
	if len(m) == 0 {
		return nil, &fieldError{"userKyc", "must be omitted rather than empty"}
	}
	out := make(map[string]string, len(m))
	for _, k := range kycFields {
		s, ferr := optionalString(m, k)
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
// minor digits. It returns the exact value, or a message.
func checkAmount(n json.Number, digits int, currency string) (*big.Rat, string) {
	s := string(n)
	if !plainDecimal.MatchString(s) {
		return nil, "must be a plain decimal number, without exponent"
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > digits {
		return nil, fmt.Sprintf("has %d decimal places; %s allows %d", len(s)-i-1, currency, digits)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, "must be a plain decimal number, without exponent"
	}
	if r.Cmp(minAmount) < 0 || r.Cmp(maxAmount) > 0 {
		return nil, "must be between 0.1 and 10 inclusive (sandbox limits)"
	}
	return r, ""
}

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
