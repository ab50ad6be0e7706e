package stablemint_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/paylinks/paylinks/stablemint"
)

func TestParseAmountAcceptsHumanFormats(t *testing.T) {
	tests := []struct {
		in       string
		currency string
		want     int64
	}{
		{"10", "EUR", 1000},
		{"10.5", "EUR", 1050},
		{"10.50", "EUR", 1050},
		{"10,5", "EUR", 1050},
		{"10,50", "EUR", 1050},
		{"0.01", "EUR", 1},
		{"0,1", "EUR", 10},
		{"0", "EUR", 0},
		{"007.50", "EUR", 750},
		{"1 250.00", "EUR", 125000},
		{"1 250,00", "EUR", 125000},
		{"1\u00a0250,00", "EUR", 125000},
		{"1\u202f250,00", "EUR", 125000},
		{"1\u2009250.00", "EUR", 125000},
		{"1,250.00", "EUR", 125000},
		{"1.250,00", "EUR", 125000},
		{"1,250", "EUR", 125000},
		{"1,250,000", "EUR", 125000000},
		{"1.250.000", "EUR", 125000000},
		{"1.250.000,5", "EUR", 125000050},
		{"1,234,567.89", "USD", 123456789},
		{"  10.50\t", "EUR", 1050},
		{"1250", "JPY", 1250},
		{"1,250", "JPY", 1250},
		{"1 250", "JPY", 1250},
		{"1.250", "KWD", 1250},
		{"1.5", "KWD", 1500},
		{"1,5", "KWD", 1500},
		{"1,25", "KWD", 1250},
		{"1,250.125", "KWD", 1250125},
		{"1.250,125", "KWD", 1250125},
		{"0.0001", "CLF", 1},
		{"92233720368547758.07", "EUR", math.MaxInt64},
		{"9223372036854775807", "JPY", math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.currency+" "+tt.in, func(t *testing.T) {
			got, err := stablemint.ParseAmount(tt.in, tt.currency)
			if err != nil {
				t.Fatalf("ParseAmount(%q, %s): unexpected error %v", tt.in, tt.currency, err)
			}
			want := stablemint.Amount{Minor: tt.want, Currency: tt.currency}
			if got != want {
				t.Errorf("ParseAmount(%q, %s) = %+v, want %+v", tt.in, tt.currency, got, want)
			}
		})
	}
}

func TestParseAmountRejects(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		currency string
		want     error
	}{
		{"empty", "", "EUR", stablemint.ErrAmountSyntax},
		{"blank", "   ", "EUR", stablemint.ErrAmountSyntax},
		{"negative", "-10", "EUR", stablemint.ErrNegativeAmount},
		{"unicode minus", "\u221210", "EUR", stablemint.ErrNegativeAmount},
		{"plus sign", "+10", "EUR", stablemint.ErrAmountSyntax},
		{"letters", "ten", "EUR", stablemint.ErrAmountSyntax},
		{"currency code", "EUR 10", "EUR", stablemint.ErrAmountSyntax},
		{"currency symbol", "€10", "EUR", stablemint.ErrAmountSyntax},
		{"exponent", "1e3", "EUR", stablemint.ErrAmountSyntax},
		{"hex", "0x10", "EUR", stablemint.ErrAmountSyntax},
		{"arabic-indic digits", "١٠", "EUR", stablemint.ErrAmountSyntax},
		{"fullwidth digits", "１０", "EUR", stablemint.ErrAmountSyntax},
		{"three decimals in EUR", "10.500", "EUR", stablemint.ErrTooManyDecimals},
		{"three decimals with group", "1,250.505", "EUR", stablemint.ErrTooManyDecimals},
		{"decimals in JPY", "10.5", "JPY", stablemint.ErrTooManyDecimals},
		{"decimal comma in JPY", "10,5", "JPY", stablemint.ErrTooManyDecimals},
		{"four decimals in KWD", "1.2345", "KWD", stablemint.ErrTooManyDecimals},
		{"ambiguous comma in KWD", "1,250", "KWD", stablemint.ErrAmbiguousAmount},
		{"four digits after comma", "1,2500", "EUR", stablemint.ErrTooManyDecimals},
		{"trailing separator", "10.", "EUR", stablemint.ErrAmountSyntax},
		{"trailing comma", "10,", "EUR", stablemint.ErrAmountSyntax},
		{"leading separator", ".50", "EUR", stablemint.ErrAmountSyntax},
		{"two decimal points", "1.2.3,4", "EUR", stablemint.ErrAmountSyntax},
		{"comma after dot twice", "1,2,3.4,5", "EUR", stablemint.ErrAmountSyntax},
		{"bad grouping", "12,34.00", "EUR", stablemint.ErrAmountSyntax},
		{"indian grouping", "1,25,000", "INR", stablemint.ErrAmountSyntax},
		{"group of four", "1 2500", "EUR", stablemint.ErrAmountSyntax},
		{"double space", "1  250", "EUR", stablemint.ErrAmountSyntax},
		{"mixed groups", "1 250.000.000", "EUR", stablemint.ErrAmountSyntax},
		{"space in fraction", "10,5 0", "EUR", stablemint.ErrAmountSyntax},
		{"apostrophe grouping", "1'250.00", "CHF", stablemint.ErrAmountSyntax},
		{"overflow", "92233720368547758.08", "EUR", stablemint.ErrAmountOverflow},
		{"huge", "99999999999999999999999", "JPY", stablemint.ErrAmountOverflow},
		{"too long", strings.Repeat("1", 65), "JPY", stablemint.ErrAmountSyntax},
		{"unknown currency", "10", "XYZ", stablemint.ErrUnknownCurrency},
		{"lower-case currency", "10", "eur", stablemint.ErrUnknownCurrency},
		{"no-minor-unit code", "10", "XAU", stablemint.ErrUnknownCurrency},
		{"NaN", "NaN", "EUR", stablemint.ErrAmountSyntax},
		{"newline inside", "10\n50", "EUR", stablemint.ErrAmountSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stablemint.ParseAmount(tt.in, tt.currency)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseAmount(%q, %s) = %+v, %v; want error %v", tt.in, tt.currency, got, err, tt.want)
			}
			if err.Error() == "" {
				t.Error("empty error message")
			}
		})
	}
}

func TestAmountStringAndJSON(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{1050, "EUR", "10.50"},
		{1, "EUR", "0.01"},
		{0, "EUR", "0.00"},
		{100000, "EUR", "1000.00"},
		{1250, "JPY", "1250"},
		{0, "JPY", "0"},
		{1250, "KWD", "1.250"},
		{5, "BHD", "0.005"},
		{12345, "CLF", "1.2345"},
		{-1050, "EUR", "-10.50"},
		{math.MaxInt64, "EUR", "92233720368547758.07"},
		{math.MinInt64, "EUR", "-92233720368547758.08"},
	}
	for _, tt := range tests {
		a := stablemint.Amount{Minor: tt.minor, Currency: tt.currency}
		t.Run(tt.currency+" "+tt.want, func(t *testing.T) {
			if got := a.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if string(b) != tt.want {
				t.Errorf("json.Marshal = %s, want %s", b, tt.want)
			}
		})
	}
	t.Run("unknown currency", func(t *testing.T) {
		a := stablemint.Amount{Minor: 1050, Currency: "XYZ"}
		if _, err := json.Marshal(a); !errors.Is(err, stablemint.ErrUnknownCurrency) {
			t.Errorf("json.Marshal(%+v) error = %v, want ErrUnknownCurrency", a, err)
		}
		if got, want := a.String(), `1050 minor units of "XYZ"`; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	})
}

func TestAmountFromJSONNumber(t *testing.T) {
	ok := []struct {
		raw      string
		currency string
		want     int64
	}{
		{"10.50", "EUR", 1050},
		{"10.5", "EUR", 1050},
		{"10", "EUR", 1000},
		{"10.500", "EUR", 1050},
		{"0", "EUR", 0},
		{"0.00", "EUR", 0},
		{"1.05e1", "EUR", 1050},
		{"1050E-2", "EUR", 1050},
		{"1.05e+1", "EUR", 1050},
		{"0e9999", "EUR", 0},
		{"1250", "JPY", 1250},
		{"1250.0", "JPY", 1250},
		{"1.25e3", "JPY", 1250},
		{"1.250", "KWD", 1250},
		{"92233720368547758.07", "EUR", math.MaxInt64},
	}
	for _, tt := range ok {
		t.Run("accepts "+tt.currency+" "+tt.raw, func(t *testing.T) {
			got, err := stablemint.AmountFromJSONNumber(tt.raw, tt.currency)
			want := stablemint.Amount{Minor: tt.want, Currency: tt.currency}
			if err != nil || got != want {
				t.Errorf("AmountFromJSONNumber(%q, %s) = %+v, %v; want %+v", tt.raw, tt.currency, got, err, want)
			}
		})
	}
	bad := []struct {
		raw      string
		currency string
		want     error
	}{
		{"", "EUR", stablemint.ErrAmountSyntax},
		{"10.505", "EUR", stablemint.ErrTooManyDecimals},
		{"10.5", "JPY", stablemint.ErrTooManyDecimals},
		{"1e-400", "EUR", stablemint.ErrTooManyDecimals},
		{"1e400", "EUR", stablemint.ErrAmountOverflow},
		{"1e99999", "EUR", stablemint.ErrAmountSyntax},
		{"92233720368547758.08", "EUR", stablemint.ErrAmountOverflow},
		{"-10.50", "EUR", stablemint.ErrNegativeAmount},
		{"-0", "EUR", stablemint.ErrNegativeAmount},
		{"+10", "EUR", stablemint.ErrAmountSyntax},
		{"010", "EUR", stablemint.ErrAmountSyntax},
		{".5", "EUR", stablemint.ErrAmountSyntax},
		{"5.", "EUR", stablemint.ErrAmountSyntax},
		{"1e", "EUR", stablemint.ErrAmountSyntax},
		{" 10", "EUR", stablemint.ErrAmountSyntax},
		{"10,50", "EUR", stablemint.ErrAmountSyntax},
		{`"10"`, "EUR", stablemint.ErrAmountSyntax},
		{"Infinity", "EUR", stablemint.ErrAmountSyntax},
		{"10", "", stablemint.ErrUnknownCurrency},
	}
	for _, tt := range bad {
		t.Run("rejects "+tt.currency+" "+tt.raw, func(t *testing.T) {
			got, err := stablemint.AmountFromJSONNumber(tt.raw, tt.currency)
			if !errors.Is(err, tt.want) {
				t.Errorf("AmountFromJSONNumber(%q, %s) = %+v, %v; want error %v", tt.raw, tt.currency, got, err, tt.want)
			}
		})
	}
}

// TestAmountRoundTripProperty: for random minor units in EUR, JPY and KWD,
// String → ParseAmount, MarshalJSON → AmountFromJSONNumber and a grouped
// human rendering → ParseAmount all give back the same amount exactly.
func TestAmountRoundTripProperty(t *testing.T) {
	for _, currency := range []string{"EUR", "JPY", "KWD"} {
		t.Run(currency, func(t *testing.T) {
			exp, _ := stablemint.CurrencyExponent(currency)
			rapid.Check(t, func(t *rapid.T) {
				minor := rapid.OneOf(
					rapid.Int64Range(0, 1_000_000),
					rapid.Int64Range(0, math.MaxInt64),
				).Draw(t, "minor")
				a := stablemint.Amount{Minor: minor, Currency: currency}
				s := a.String()
				if got := fractionDigits(s); got != exp {
					t.Fatalf("String() = %q has %d decimals, want %d", s, got, exp)
				}
				if got, err := stablemint.ParseAmount(s, currency); err != nil || got != a {
					t.Fatalf("ParseAmount(%q) = %+v, %v; want %+v", s, got, err, a)
				}
				js, err := json.Marshal(a)
				if err != nil || !json.Valid(js) {
					t.Fatalf("json.Marshal(%+v) = %s, %v", a, js, err)
				}
				if got, err := stablemint.AmountFromJSONNumber(string(js), currency); err != nil || got != a {
					t.Fatalf("AmountFromJSONNumber(%s) = %+v, %v; want %+v", js, got, err, a)
				}
				sep := rapid.SampledFrom([]string{",", " ", "\u00a0", "\u202f"}).Draw(t, "group")
				human := groupThousands(s, sep)
				if got, err := stablemint.ParseAmount(human, currency); err != nil || got != a {
					t.Fatalf("ParseAmount(%q) = %+v, %v; want %+v", human, got, err, a)
				}
			})
		})
	}
}

// fractionDigits counts the digits after the dot.
func fractionDigits(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// groupThousands inserts sep every three integer digits of a "1234.56"
// rendering, as a person might type it.
func groupThousands(s, sep string) string {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return b.String()
}

func TestNewAmount(t *testing.T) {
	if a, err := stablemint.NewAmount(1050, "EUR"); err != nil || a.String() != "10.50" {
		t.Errorf("NewAmount(1050, EUR) = %v, %v; want 10.50", a, err)
	}
	if _, err := stablemint.NewAmount(-1, "EUR"); !errors.Is(err, stablemint.ErrNegativeAmount) {
		t.Errorf("NewAmount(-1, EUR) error = %v, want ErrNegativeAmount", err)
	}
	if _, err := stablemint.NewAmount(1, "EURO"); !errors.Is(err, stablemint.ErrUnknownCurrency) {
		t.Errorf("NewAmount(1, EURO) error = %v, want ErrUnknownCurrency", err)
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0.1", "0.10", 0},
		{"0.1", "0.09", 1},
		{"10", "10.00000000000000001", -1},
		{"9223372036854775807", "0.000000000000000001", 1},
		{"92233720368547758.07", "92233720368547758.06", 1},
		{"0", "0.0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := mustDecimal(t, tt.a).Cmp(mustDecimal(t, tt.b)); got != tt.want {
				t.Errorf("Cmp = %d, want %d", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "-1", "1.", ".1", "1e3", "1,5", " 1", "0.1234567890123456789", "99999999999999999999"} {
		t.Run("rejects "+strconv.Quote(bad), func(t *testing.T) {
			if d, err := stablemint.ParseDecimal(bad); err == nil {
				t.Errorf("ParseDecimal(%q) = %v, want an error", bad, d)
			}
		})
	}
	if got := mustDecimal(t, "0.10").String(); got != "0.10" {
		t.Errorf("String() = %q, want 0.10", got)
	}
}

func TestCurrencyTable(t *testing.T) {
	cs := stablemint.Currencies()
	if !slices.IsSortedFunc(cs, func(a, b stablemint.Currency) int { return strings.Compare(a.Code, b.Code) }) {
		t.Error("Currencies() is not sorted by code")
	}
	for i, c := range cs {
		if len(c.Code) != 3 || strings.ToUpper(c.Code) != c.Code || c.Name == "" || c.Exponent < 0 || c.Exponent > 4 {
			t.Errorf("bad entry %+v", c)
		}
		if i > 0 && cs[i-1].Code == c.Code {
			t.Errorf("duplicate code %s", c.Code)
		}
	}
	want := map[string]int{"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "KWD": 3,
		"BHD": 3, "JOD": 3, "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3, "CLF": 4, "UYW": 4, "XCG": 2, "ZWG": 2}
	for code, exp := range want {
		if got, ok := stablemint.CurrencyExponent(code); !ok || got != exp {
			t.Errorf("CurrencyExponent(%s) = %d, %v; want %d, true", code, got, ok, exp)
		}
	}
	for _, code := range []string{"HRK", "ANG", "ZWL", "XAU", "XXX", "XTS", "eur", "", "EURO"} {
		if _, ok := stablemint.CurrencyExponent(code); ok {
			t.Errorf("CurrencyExponent(%q) found, want unknown", code)
		}
	}
	cs[0].Code = "mutated"
	if stablemint.Currencies()[0].Code == "mutated" {
		t.Error("Currencies() exposes the table itself")
	}
}

// TestCurrencyListIsISO4217 pins the accepted codes: ISO 4217 list one's
// active codes with a numeric minor unit, as the package comment decides
// (fund codes kept; N.A. codes, test codes and withdrawn ones left out).
// Any change to the table must change this list, on purpose.
func TestCurrencyListIsISO4217(t *testing.T) {
	want := strings.Fields(`
AED AFN ALL AMD AOA ARS AUD AWG AZN
BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK
DJF DKK DOP DZD
EGP ERN ETB EUR
FJD FKP
GBP GEL GHS GIP GMD GNF GTQ GYD
HKD HNL HTG HUF
IDR ILS INR IQD IRR ISK
JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
NAD NGN NIO NOK NPR NZD
OMR
PAB PEN PGK PHP PKR PLN PYG
QAR
RON RSD RUB RWF
SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
THB TJS TMT TND TOP TRY TTD TWD TZS
UAH UGX USD USN UYI UYU UYW UZS
VED VES VND VUV
WST
XAD XAF XCD XCG XOF XPF
YER
ZAR ZMW ZWG`)
	// Every code not listed here has two decimals.
	exponents := map[string]int{
		"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
		"UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
		"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
		"CLF": 4, "UYW": 4,
	}
	if !slices.IsSorted(want) {
		t.Fatal("the pinned list is not sorted")
	}
	var got []string
	for _, c := range stablemint.Currencies() {
		got = append(got, c.Code)
		wantExp, ok := exponents[c.Code]
		if !ok {
			wantExp = 2
		}
		if c.Exponent != wantExp {
			t.Errorf("%s has exponent %d, want %d", c.Code, c.Exponent, wantExp)
		}
	}
	if !slices.Equal(got, want) {
		added, removed := diffSorted(got, want)
		t.Errorf("Currencies() differs from the pinned ISO 4217 list: extra %v, missing %v", added, removed)
	}
	// Withdrawn from ISO 4217 (Bulgaria adopted the euro on 2026-01-01;
	// Curaçao and Sint Maarten replaced ANG by XCG in 2025; ...).
	for _, code := range []string{"BGN", "CUC", "ANG", "HRK", "ZWL", "SLL"} {
		if stablemint.ValidCurrency(code) {
			t.Errorf("%s is accepted, but ISO 4217 withdrew it", code)
		}
	}
}

// diffSorted returns what got has that want lacks, and the reverse.
func diffSorted(got, want []string) (extra, missing []string) {
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	return extra, missing
}

func TestCountryTable(t *testing.T) {
	cs := stablemint.Countries()
	if len(cs) != 249 {
		t.Errorf("len(Countries()) = %d, want 249", len(cs))
	}
	if !slices.IsSortedFunc(cs, func(a, b stablemint.Country) int { return strings.Compare(a.Code, b.Code) }) {
		t.Error("Countries() is not sorted by code")
	}
	for i, c := range cs {
		if len(c.Code) != 2 || strings.ToUpper(c.Code) != c.Code || c.Name == "" {
			t.Errorf("bad entry %+v", c)
		}
		if i > 0 && cs[i-1].Code == c.Code {
			t.Errorf("duplicate code %s", c.Code)
		}
	}
	for code, want := range map[string]bool{"DE": true, "GB": true, "AX": true, "ZW": true, "de": false, "UK": false, "XK": false, "EU": false, "DEU": false, "": false} {
		if got := stablemint.ValidCountry(code); got != want {
			t.Errorf("ValidCountry(%q) = %v, want %v", code, got, want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"10", "10.5", "10,50", "1 250.00", "1,250.00", "1.250,00", "1,250", "-1", "1e3",
		"92233720368547758.07", "92233720368547758.08", "1\u00a0250", ".5", "0,001"} {
		for _, c := range []string{"EUR", "JPY", "KWD"} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, in, currency string) {
		a, err := stablemint.ParseAmount(in, currency)
		if err != nil {
			return
		}
		if a.Minor < 0 || a.Currency != currency {
			t.Fatalf("ParseAmount(%q, %q) = %+v: negative or wrong currency", in, currency, a)
		}
		back, err := stablemint.ParseAmount(a.String(), currency)
		if err != nil || back != a {
			t.Fatalf("round trip of %q: String %q parsed to %+v, %v; want %+v", in, a.String(), back, err, a)
		}
	})
}

func FuzzAmountFromJSONNumber(f *testing.F) {
	for _, s := range []string{"10.50", "1.05e1", "1e-400", "0e9999", "-1", "010", "10.500"} {
		f.Add(s, "EUR")
		f.Add(s, "KWD")
	}
	f.Fuzz(func(t *testing.T, raw, currency string) {
		a, err := stablemint.AmountFromJSONNumber(raw, currency)
		if err != nil {
			return
		}
		if a.Minor < 0 || !json.Valid([]byte(raw)) {
			t.Fatalf("AmountFromJSONNumber(%q) = %+v, but input is not a non-negative JSON number", raw, a)
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := stablemint.AmountFromJSONNumber(string(js), currency); err != nil || back != a {
			t.Fatalf("round trip of %q via %s = %+v, %v", raw, js, back, err)
		}
	})
}
