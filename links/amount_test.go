package links

import (
	"slices"
	"testing"
)

func TestSplitAmountCurrency(t *testing.T) {
	for _, c := range []struct {
		in, currency, number string
		fits                 bool
	}{
		{"€10", "EUR", "10", true},
		{"10€", "EUR", "10", true},
		{"10 EUR", "EUR", "10", true},
		{"EUR 10", "EUR", "10", true},
		{"10,50 eur", "EUR", "10,50", true},
		{"€ 1 250.00", "EUR", "1 250.00", true},
		{"$10", "CAD", "10", true},
		{"US$10", "USD", "10", true},
		{"US$10", "CAD", "10", false},
		{"€10", "USD", "10", false},
		{"10 GBP", "EUR", "10", false},
		{"10", "EUR", "10", true},
		{"1 250,00", "EUR", "1 250,00", true},
		{"abc", "EUR", "abc", true}, // not a currency with a number: left for the parser's message
	} {
		number, _, fits := splitAmountCurrency(c.in, c.currency)
		if number != c.number || fits != c.fits {
			t.Errorf("splitAmountCurrency(%q, %s) = %q, fits %v; want %q, %v", c.in, c.currency, number, fits, c.number, c.fits)
		}
	}
}

func TestSplitAmount(t *testing.T) {
	for _, c := range []struct {
		in, number string
		currencies []string
	}{
		{"€9.99", "9.99", []string{"EUR"}},
		{"9.99 €", "9.99", []string{"EUR"}},
		{"9.99 EUR", "9.99", []string{"EUR"}},
		{"EUR 9.99", "9.99", []string{"EUR"}},
		{"eur 9,99", "9,99", []string{"EUR"}},
		{"US$5", "5", []string{"USD"}},
		{"£5", "5", []string{"GBP", "GIP", "FKP", "SHP", "SSP", "EGP"}},
		{" 9.99 ", "9.99", nil},
		{"INV-100", "INV-100", nil}, // upper-case letters that are no code
		{"ABC 100", "ABC 100", nil}, // the same, beside a number
		{"inv100", "inv100", nil},   // lower-case letters that are no code
		{"EUR", "EUR", nil},         // a code alone
		{"€", "€", nil},             // a sign alone
		{"jane@example.com", "jane@example.com", nil},
	} {
		number, currencies := SplitAmount(c.in)
		if number != c.number || !slices.Equal(currencies, c.currencies) {
			t.Errorf("SplitAmount(%q) = %q, %v; want %q, %v", c.in, number, currencies, c.number, c.currencies)
		}
	}
	// The signs' lists are the caller's own to change.
	_, dollars := SplitAmount("$1")
	dollars[0] = "XXX"
	if _, again := SplitAmount("$1"); again[0] != "USD" {
		t.Fatalf("SplitAmount hands out its table: %v", again)
	}
}
