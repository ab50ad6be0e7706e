package sandbox

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestCodeTables(t *testing.T) {
	if n := len(countryCodes); n != 249 {
		t.Errorf("%d country codes, want the 249 assigned ISO 3166-1 alpha-2 codes", n)
	}
	for _, c := range []string{"DE", "FR", "US", "JP", "KW", "GB", "AX", "SS"} {
		if !countryCodes[c] {
			t.Errorf("country %s missing", c)
		}
	}
	for c, want := range map[string]int{"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KWD": 3, "BHD": 3, "CLF": 4, "ISK": 0} {
		if got, ok := currencyDigits[c]; !ok || got != want {
			t.Errorf("currency %s: %d digits (listed %v), want %d", c, got, ok, want)
		}
	}
	for c, d := range currencyDigits {
		if len(c) != 3 || strings.ToUpper(c) != c || d < 0 || d > 4 {
			t.Errorf("currency entry %q: %d", c, d)
		}
	}
}

// validBody is a minimal valid create request with amount and currency.
func validBody(amount, currency string) string {
	return `{"userId":"u1","userEmail":"a@example.com","userCountryCode":"DE","currency":"` + currency +
		`","amount":` + amount + `,"successUrl":"https://s.example/ok","supportUrl":"https://s.example/help",` +
		`"exitUrl":"https://s.example/exit","errorUrl":"https://s.example/err"}`
}

// formatMinor writes minor units with exactly digits decimals, as the
// paylinks client is required to.
func formatMinor(units int64, digits int) string {
	if digits == 0 {
		return fmt.Sprint(units)
	}
	s := fmt.Sprintf("%0*d", digits+1, units)
	return s[:len(s)-digits] + "." + s[len(s)-digits:]
}

func TestAmountRoundTripsExactly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		currency := rapid.SampledFrom([]string{"EUR", "JPY", "KWD"}).Draw(t, "currency")
		digits := currencyDigits[currency]
		scale := int64(1)
		for range digits {
			scale *= 10
		}
		units := rapid.Int64Range(0, 20*scale).Draw(t, "units")
		text := formatMinor(units, digits)
		strict := rapid.Bool().Draw(t, "strict")
		req, ferr := parseCreateRequest([]byte(validBody(text, currency)), strict)

		value := new(big.Rat).SetFrac64(units, scale)
		inRange := value.Cmp(minAmount) >= 0 && value.Cmp(maxAmount) <= 0
		if inRange != (ferr == nil) {
			t.Fatalf("%s %s: accepted %v (%v), in range %v", text, currency, ferr == nil, ferr, inRange)
		}
		if ferr != nil {
			if ferr.Field != "amount" {
				t.Fatalf("%s %s: field %q, want amount", text, currency, ferr.Field)
			}
			return
		}
		if string(req.Amount) != text || req.amount.Cmp(value) != 0 {
			t.Fatalf("amount %q (%v), want %q (%v)", req.Amount, req.amount, text, value)
		}
	})
}

func FuzzParseCreateRequest(f *testing.F) {
	f.Add([]byte(validBody("10.50", "EUR")))
	f.Add([]byte(validBody("1", "JPY")))
	f.Add([]byte(validBody("1.234", "KWD")))
	f.Add([]byte(validBody("1e1", "EUR")))
	f.Add([]byte(validBody(`"5"`, "EUR")))
	f.Add([]byte(`{"userKyc":{"dateOfBirth":"2000-02-29"}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(validBody("9.500", "EUR")))
	f.Add([]byte(validBody("1.005", "EUR")))
	f.Add([]byte(`{"userId":"u1","userEmail":"a@example.com","userCountryCode":"DE","currency":"EUR","amount":1,` +
		`"successUrl":"https://s.example/ok","supportUrl":"https://s.example/help","exitUrl":"https://s.example/exit",` +
		`"errorUrl":"https://s.example/err","customFields":"{\\"k\\":\\"v\\"}","userKyc":{},"extra":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ferr := parseCreateRequest(body, false)
		if (req == nil) == (ferr == nil) {
			t.Fatalf("want exactly one of request and error: %v %v", req, ferr)
		}
		strictReq, strictErr := parseCreateRequest(body, true)
		if (strictReq == nil) == (strictErr == nil) {
			t.Fatalf("strict: want exactly one of request and error: %v %v", strictReq, strictErr)
		}
		// Strict only adds rules: what it accepts, the default accepts as the same content.
		if strictErr == nil && (ferr != nil || req.fingerprint() != strictReq.fingerprint()) {
			t.Fatalf("strict accepted what the default refused (%v) or read it otherwise", ferr)
		}
		if ferr != nil {
			return
		}
		// Whatever was accepted obeys the document.
		if !countryCodes[req.UserCountryCode] {
			t.Fatalf("accepted %+v", req)
		}
		if req.amount.Cmp(minAmount) < 0 || req.amount.Cmp(maxAmount) > 0 {
			t.Fatalf("accepted amount %s out of range", req.Amount)
		}
		scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(currencyDigits[req.Currency])), nil))
		if !new(big.Rat).Mul(req.amount, scale).IsInt() {
			t.Fatalf("accepted %s %s, finer than the minor unit", req.Amount, req.Currency)
		}
		for _, u := range []string{req.SuccessURL, req.SupportURL, req.ExitURL, req.ErrorURL} {
			if !absoluteURL(u) {
				t.Fatalf("accepted URL %q", u)
			}
		}
		if req.fingerprint() != req.fingerprint() {
			t.Fatal("fingerprint not deterministic")
		}
		var back map[string]any
		if err := json.Unmarshal([]byte(req.fingerprint()), &back); err != nil {
			t.Fatalf("fingerprint not JSON: %v", err)
		}
		if strictErr != nil {
			return
		}
		// And what strict accepted, paylinks' conventions too.
		if !plainDecimal.MatchString(string(req.Amount)) {
			t.Fatalf("strict accepted amount %s", req.Amount)
		}
		if i := strings.IndexByte(string(req.Amount), '.'); i >= 0 && len(req.Amount)-i-1 > currencyDigits[req.Currency] {
			t.Fatalf("strict accepted %s %s", req.Amount, req.Currency)
		}
		for _, u := range []string{req.SuccessURL, req.SupportURL, req.ExitURL, req.ErrorURL} {
			if !absoluteHTTPURL(u) {
				t.Fatalf("strict accepted URL %q", u)
			}
		}
	})
}
