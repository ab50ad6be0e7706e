package stablemint_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/stablemint"
)

// goldenBody is validRequest's JSON, byte for byte: contract names, contract
// order, an exact number, no HTML escaping, no empty optional field.
const goldenBody = `{"userId":"user-42","userEmail":"ana@example.com","userCountryCode":"DE","currency":"EUR","amount":9.50,"successUrl":"https://shop.example/paid?a=1&b=2","supportUrl":"https://shop.example/help","exitUrl":"https://shop.example/exit","errorUrl":"https://shop.example/error","idempotencyKey":"6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11","websiteReference":"INV-2026-001"}`

// TestRequestJSONGolden pins MarshalJSON, which is what the client sends
// (json.Marshal would re-escape '&' as \u0026: the same JSON, other bytes).
func TestRequestJSONGolden(t *testing.T) {
	got, err := validRequest(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != goldenBody {
		t.Errorf("json.Marshal(request)\n got %s\nwant %s", got, goldenBody)
	}
}

func TestRequestJSONOmitsEmptyOptionalFields(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*stablemint.Request)
		absent []string
		want   map[string]any
	}{
		{
			name:   "no optional fields",
			edit:   func(r *stablemint.Request) { r.IdempotencyKey, r.WebsiteReference = "", "" },
			absent: []string{"idempotencyKey", "websiteReference", "customFields", "userKyc"},
		},
		{
			name:   "empty custom fields map and empty KYC",
			edit:   func(r *stablemint.Request) { r.CustomFields, r.UserKYC = map[string]string{}, &stablemint.KYC{} },
			absent: []string{"customFields", "userKyc"},
		},
		{
			name: "partial KYC keeps only set fields",
			edit: func(r *stablemint.Request) {
				r.UserKYC = &stablemint.KYC{FullName: "Ana Diaz", DateOfBirth: "1990-04-23"}
				r.CustomFields = map[string]string{"orderId": "A-1"}
			},
			want: map[string]any{
				"userKyc":      map[string]any{"fullName": "Ana Diaz", "dateOfBirth": "1990-04-23"},
				"customFields": map[string]any{"orderId": "A-1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest(t)
			tt.edit(&r)
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.absent {
				if v, ok := got[k]; ok {
					t.Errorf("field %q present (%v), want omitted; body %s", k, v, b)
				}
			}
			for k, want := range tt.want {
				g, _ := json.Marshal(got[k])
				w, _ := json.Marshal(want)
				if string(g) != string(w) {
					t.Errorf("field %q = %s, want %s", k, g, w)
				}
			}
		})
	}
}

func TestRequestKYCFieldNames(t *testing.T) {
	r := validRequest(t)
	r.UserKYC = &stablemint.KYC{
		FullName: "a", CitizenshipCountryCode: "DE", ResidenceAddress: "b", DateOfBirth: "1990-04-23",
		PlaceOfBirth: "c", Gender: "d", MobilePhone: "e", PersonalIdentificationNumber: "f",
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		KYC map[string]string `json:"userKyc"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"citizenshipCountryCode", "dateOfBirth", "fullName", "gender", "mobilePhone",
		"personalIdentificationNumber", "placeOfBirth", "residenceAddress"}
	var keys []string
	for k := range got.KYC {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("userKyc keys = %v, want %v", keys, want)
	}
}

func TestRequestValidate(t *testing.T) {
	limits := stablemint.SandboxLimits()
	tests := []struct {
		name   string
		edit   func(*stablemint.Request)
		fields []string // want these fields to fail, in order; nil = valid
	}{
		{"valid", func(*stablemint.Request) {}, nil},
		{"valid without idempotency key", func(r *stablemint.Request) { r.IdempotencyKey = "" }, nil},
		{"valid with http redirect urls", func(r *stablemint.Request) { r.SuccessURL = "http://shop.example/ok" }, nil},
		{"valid full KYC", func(r *stablemint.Request) {
			r.UserKYC = &stablemint.KYC{FullName: "Ana", CitizenshipCountryCode: "ES", DateOfBirth: "2000-02-29"}
		}, nil},
		{"valid at minimum", func(r *stablemint.Request) { r.Amount = mustAmount(t, "0.10", "EUR") }, nil},
		{"valid at maximum", func(r *stablemint.Request) { r.Amount = mustAmount(t, "10", "EUR") }, nil},
		{"valid KWD at minimum", func(r *stablemint.Request) { r.Currency, r.Amount = "KWD", mustAmount(t, "0.100", "KWD") }, nil},
		{"valid JPY", func(r *stablemint.Request) { r.Currency, r.Amount = "JPY", mustAmount(t, "1", "JPY") }, nil},
		{"everything missing", func(r *stablemint.Request) { *r = stablemint.Request{} },
			[]string{"userId", "userEmail", "userCountryCode", "currency", "amount", "successUrl", "supportUrl", "exitUrl", "errorUrl"}},
		{"bad email", func(r *stablemint.Request) { r.UserEmail = "ana@" }, []string{"userEmail"}},
		{"email with display name", func(r *stablemint.Request) { r.UserEmail = "Ana <ana@example.com>" }, []string{"userEmail"}},
		{"email without dot in domain", func(r *stablemint.Request) { r.UserEmail = "ana@localhost" }, []string{"userEmail"}},
		{"email with newline", func(r *stablemint.Request) { r.UserEmail = "ana@example.com\r\nBcc: x@y.z" }, []string{"userEmail"}},
		{"lower-case country", func(r *stablemint.Request) { r.UserCountryCode = "de" }, []string{"userCountryCode"}},
		{"alpha-3 country", func(r *stablemint.Request) { r.UserCountryCode = "DEU" }, []string{"userCountryCode"}},
		{"unassigned country", func(r *stablemint.Request) { r.UserCountryCode = "UK" }, []string{"userCountryCode"}},
		{"unknown currency", func(r *stablemint.Request) { r.Currency = "EUX" }, []string{"currency", "amount"}},
		{"currency mismatch", func(r *stablemint.Request) { r.Currency = "USD" }, []string{"amount"}},
		{"zero amount", func(r *stablemint.Request) { r.Amount.Minor = 0 }, []string{"amount"}},
		{"negative amount", func(r *stablemint.Request) { r.Amount.Minor = -5 }, []string{"amount"}},
		{"just below minimum", func(r *stablemint.Request) { r.Amount = mustAmount(t, "0.09", "EUR") }, []string{"amount"}},
		{"just above maximum", func(r *stablemint.Request) { r.Amount = mustAmount(t, "10.01", "EUR") }, []string{"amount"}},
		{"KWD just above maximum", func(r *stablemint.Request) { r.Currency, r.Amount = "KWD", mustAmount(t, "10.001", "KWD") }, []string{"amount"}},
		{"relative url", func(r *stablemint.Request) { r.SuccessURL = "/paid" }, []string{"successUrl"}},
		{"scheme-relative url", func(r *stablemint.Request) { r.SupportURL = "//evil.example/x" }, []string{"supportUrl"}},
		{"javascript url", func(r *stablemint.Request) { r.ExitURL = "javascript:alert(1)" }, []string{"exitUrl"}},
		{"ftp url", func(r *stablemint.Request) { r.ErrorURL = "ftp://shop.example/x" }, []string{"errorUrl"}},
		{"url with user info", func(r *stablemint.Request) { r.ErrorURL = "https://shop.example@evil.example/" }, []string{"errorUrl"}},
		{"url with space", func(r *stablemint.Request) { r.ErrorURL = "https://shop.example/a b" }, []string{"errorUrl"}},
		{"url without host", func(r *stablemint.Request) { r.ErrorURL = "https:///path" }, []string{"errorUrl"}},
		{"idempotency key too long", func(r *stablemint.Request) { r.IdempotencyKey = strings.Repeat("k", 256) }, []string{"idempotencyKey"}},
		{"idempotency key of 255", func(r *stablemint.Request) { r.IdempotencyKey = strings.Repeat("k", 255) }, nil},
		{"idempotency key with space", func(r *stablemint.Request) { r.IdempotencyKey = "a b" }, []string{"idempotencyKey"}},
		{"user id with newline", func(r *stablemint.Request) { r.UserID = "u\n1" }, []string{"userId"}},
		{"website reference too long", func(r *stablemint.Request) { r.WebsiteReference = strings.Repeat("r", 256) }, []string{"websiteReference"}},
		{"custom field with empty name", func(r *stablemint.Request) { r.CustomFields = map[string]string{"": "x"} }, []string{"customFields"}},
		{"KYC bad date", func(r *stablemint.Request) { r.UserKYC = &stablemint.KYC{DateOfBirth: "23/04/1990"} }, []string{"userKyc.dateOfBirth"}},
		{"KYC impossible date", func(r *stablemint.Request) { r.UserKYC = &stablemint.KYC{DateOfBirth: "1990-02-30"} }, []string{"userKyc.dateOfBirth"}},
		{"KYC bad citizenship", func(r *stablemint.Request) { r.UserKYC = &stablemint.KYC{CitizenshipCountryCode: "Spain"} }, []string{"userKyc.citizenshipCountryCode"}},
		{"KYC control characters", func(r *stablemint.Request) { r.UserKYC = &stablemint.KYC{FullName: "A\x00B"} }, []string{"userKyc.fullName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest(t)
			tt.edit(&r)
			err := r.Validate(limits)
			got := failedFields(t, err)
			if !slices.Equal(got, tt.fields) {
				t.Errorf("Validate() failed fields = %v, want %v (error: %v)", got, tt.fields, err)
			}
		})
	}
}

// failedFields returns the fields of a ValidationErrors, checking each has a
// sentence-like message.
func failedFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs stablemint.ValidationErrors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not ValidationErrors", err, err)
	}
	var fields []string
	for _, e := range errs {
		if !strings.HasSuffix(e.Message, ".") || e.Message[0] < 'A' || e.Message[0] > 'Z' {
			t.Errorf("message %q for %s is not a sentence", e.Message, e.Field)
		}
		fields = append(fields, e.Field)
	}
	var first *stablemint.ValidationError
	if !errors.As(err, &first) || first.Field != fields[0] {
		t.Errorf("errors.As(*ValidationError) = %v, want the first field %s", first, fields[0])
	}
	return fields
}

func TestValidateLimitsAreExactAndOptional(t *testing.T) {
	r := validRequest(t)
	r.Amount = mustAmount(t, "1000000", "EUR")
	if err := r.Validate(stablemint.Limits{}); err != nil {
		t.Errorf("Validate(no limits) = %v, want nil", err)
	}
	r.Currency, r.Amount = "JPY", mustAmount(t, "1", "JPY")
	limits := stablemint.Limits{Min: mustDecimal(t, "1.5")}
	if got := failedFields(t, r.Validate(limits)); !slices.Equal(got, []string{"amount"}) {
		t.Errorf("1 JPY with min 1.5: failed fields %v, want [amount]", got)
	}
	if err, ok := r.Validate(limits).(stablemint.ValidationErrors); !ok || err.ByField()["amount"] != "Amount must be at least 1.5 JPY." {
		t.Errorf("ByField()[amount] = %q", err.ByField()["amount"])
	}
}
