package links

import (
	"slices"
	"strings"
	"unicode"

	"github.com/paylinks/paylinks/stablemint"
)

// symbolCurrencies are the currency signs people type with an amount and
// the currencies each may stand for. A sign that stands for several (the
// dollar, the yen, the krona) fits any of them; the currency picked on the
// form says which.
var symbolCurrencies = map[string][]string{
	"€": {"EUR"}, "£": {"GBP", "GIP", "FKP", "SHP", "SSP", "EGP"}, "¥": {"JPY", "CNY"}, "₹": {"INR"}, "₩": {"KRW"},
	"₽": {"RUB"}, "₺": {"TRY"}, "₪": {"ILS"}, "฿": {"THB"}, "₫": {"VND"}, "₴": {"UAH"}, "₦": {"NGN"}, "₱": {"PHP"},
	"zł": {"PLN"}, "Kč": {"CZK"}, "kr": {"SEK", "NOK", "DKK", "ISK"}, "Fr": {"CHF"}, "R$": {"BRL"}, "US$": {"USD"},
	"$": {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "MXN", "ARS", "CLP", "COP", "UYU", "DOP", "CUP", "BSD", "BBD",
		"BZD", "BMD", "BND", "FJD", "GYD", "JMD", "KYD", "LRD", "NAD", "SBD", "SRD", "TTD", "XCD"},
}

// signsLongestFirst are symbolCurrencies' signs, "US$" before "$".
var signsLongestFirst = func() []string {
	signs := make([]string, 0, len(symbolCurrencies))
	for sign := range symbolCurrencies {
		signs = append(signs, sign)
	}
	slices.SortFunc(signs, func(a, b string) int { return len(b) - len(a) })
	return signs
}()

// splitAmountCurrency takes a currency written with an amount off it:
// "€10", "10€", "10 EUR", "EUR 10", "10,50 eur". It returns the number,
// what was written for the currency (for a message) and whether that fits
// currency, the one picked on the form; an amount with no currency written
// fits.
func splitAmountCurrency(input, currency string) (number, written string, fits bool) {
	number, written, currencies := splitCurrency(input)
	return number, written, currencies == nil || slices.Contains(currencies, currency)
}

// SplitAmount takes a currency written with an amount off it, for a
// search: "€9.99", "9.99 EUR" and "eur 9.99" are 9.99 in EUR; "$9.99" is
// 9.99 in any of the currencies written $ (currencies lists them). With no
// currency written, or letters that are no ISO 4217 code ("INV-100"),
// currencies is nil and number is the input, trimmed. number is not
// checked to be an amount.
func SplitAmount(input string) (number string, currencies []string) {
	number, _, currencies = splitCurrency(input)
	if len(currencies) == 1 && !stablemint.ValidCurrency(currencies[0]) {
		return strings.TrimSpace(input), nil
	}
	return number, slices.Clone(currencies)
}

// splitCurrency is splitAmountCurrency and SplitAmount's reading: the
// number, what was written for the currency and the currencies it may be
// (nil: none written).
func splitCurrency(input string) (number, written string, currencies []string) {
	s := strings.TrimSpace(input)
	// A three-letter code before or after the number.
	if len(s) > 3 {
		for _, code := range []string{s[:3], s[len(s)-3:]} {
			if !isLetters(code) {
				continue
			}
			up := strings.ToUpper(code)
			rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSuffix(s, code), code))
			if rest == s || !hasDigit(rest) || !stablemint.ValidCurrency(up) && up != code {
				continue // not a code beside a number: "eleven", or lower-case letters that are no ISO code
			}
			return rest, up, []string{up}
		}
	}
	// A sign before or after the number.
	for _, sign := range signsLongestFirst {
		var rest string
		switch {
		case strings.HasPrefix(s, sign):
			rest = strings.TrimSpace(s[len(sign):])
		case strings.HasSuffix(s, sign):
			rest = strings.TrimSpace(s[:len(s)-len(sign)])
		default:
			continue
		}
		if !hasDigit(rest) {
			continue
		}
		return rest, sign + " (" + strings.Join(symbolCurrencies[sign], ", ") + ")", symbolCurrencies[sign]
	}
	return s, "", nil
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

func isLetters(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
