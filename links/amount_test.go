package links

import "testing"

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
