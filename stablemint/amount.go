package stablemint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Errors returned, wrapped with detail, by ParseAmount, AmountFromJSONNumber,
// NewAmount and ParseDecimal. Test them with errors.Is.
var (
	ErrAmountSyntax    = errors.New("amount is not a number")
	ErrNegativeAmount  = errors.New("amount must not be negative")
	ErrAmountOverflow  = errors.New("amount is too large")
	ErrTooManyDecimals = errors.New("amount has more decimal places than its currency allows")
	ErrAmbiguousAmount = errors.New("amount is ambiguous")
	ErrUnknownCurrency = errors.New("currency is not an ISO 4217 code")
)

// What makes an amount's text unreadable, each an ErrAmountSyntax too (so
// errors.Is matches both): callers that explain the problem to a person
// choose their words by these, never by an error's text.
var (
	ErrAmountCharacter = fmt.Errorf("%w: it has a character other than digits, '.', ',' and spaces", ErrAmountSyntax)
	ErrSeparatorTwice  = fmt.Errorf("%w: the decimal separator appears more than once", ErrAmountSyntax)
	ErrNoDecimalDigits = fmt.Errorf("%w: digits must follow the decimal separator", ErrAmountSyntax)
	ErrNoLeadingDigit  = fmt.Errorf("%w: write a leading 0, as in 0.50", ErrAmountSyntax)
	ErrAmountGrouping  = fmt.Errorf("%w: thousands must be grouped by three digits with one kind of separator", ErrAmountSyntax)
	ErrFractionDigits  = fmt.Errorf("%w: only digits may follow the decimal separator", ErrAmountSyntax)
)

// maxAmountInput bounds what ParseAmount and AmountFromJSONNumber look at;
// no real amount is longer.
const maxAmountInput = 64

// Amount is an exact sum of money: an integer count of the currency's minor
// units (cents for EUR, yen for JPY, fils for KWD). It never passes through
// float64. The zero value is not a valid amount (it has no currency).
type Amount struct {
	// Minor is the number of minor units; 1050 in EUR is 10.50 EUR.
	Minor int64
	// Currency is the ISO 4217 code, in upper case.
	Currency string
}

// NewAmount returns minor units of currency, refusing an unknown currency
// and a negative value. Use it for amounts read back from storage.
func NewAmount(minor int64, currency string) (Amount, error) {
	if !ValidCurrency(currency) {
		return Amount{}, unknownCurrency(currency)
	}
	if minor < 0 {
		return Amount{}, ErrNegativeAmount
	}
	return Amount{Minor: minor, Currency: currency}, nil
}

// String formats the amount with exactly the currency's number of decimals
// and a dot: "10.50" for 1050 EUR, "1250" for 1250 JPY, "1.250" for 1250
// KWD. It carries no currency code and no grouping. An amount whose currency
// is unknown is written as "<minor> minor units of <currency>" so it can
// never be mistaken for a decimal value.
func (a Amount) String() string {
	exp, ok := CurrencyExponent(a.Currency)
	if !ok {
		return fmt.Sprintf("%d minor units of %q", a.Minor, a.Currency)
	}
	return formatMinor(a.Minor, exp)
}

// MarshalJSON writes the amount as an exact JSON number with the currency's
// number of decimals (1050 EUR is written 10.50). It fails for an unknown
// currency rather than guess a scale.
func (a Amount) MarshalJSON() ([]byte, error) {
	exp, ok := CurrencyExponent(a.Currency)
	if !ok {
		return nil, unknownCurrency(a.Currency)
	}
	return []byte(formatMinor(a.Minor, exp)), nil
}

// IsZero reports whether the amount is zero minor units.
func (a Amount) IsZero() bool { return a.Minor == 0 }

// Decimal returns the amount in major units as a Decimal (1050 EUR → 10.50).
func (a Amount) Decimal() (Decimal, error) {
	exp, ok := CurrencyExponent(a.Currency)
	if !ok {
		return Decimal{}, unknownCurrency(a.Currency)
	}
	return Decimal{coef: a.Minor, scale: exp}, nil
}

// formatMinor writes minor units as a decimal with exp fraction digits.
func formatMinor(minor int64, exp int) string {
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign = "-"
		u = -u // two's complement: also right for math.MinInt64
	}
	digits := strconv.FormatUint(u, 10)
	if exp == 0 {
		return sign + digits
	}
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	cut := len(digits) - exp
	return sign + digits[:cut] + "." + digits[cut:]
}

// ParseAmount reads an amount as a person types it, in the given currency.
//
// Accepted: "10", "10.5", "10,50", "1 250.00", "1,250.00", "1.250,00".
// Not accepted: apostrophe grouping ("1'250.00") and Indian grouping
// ("1,25,000"). The rules, in order:
//
//   - surrounding white space is ignored; ordinary, no-break (U+00A0),
//     figure (U+2007), thin (U+2009) and narrow no-break (U+202F) spaces
//     inside the number are group separators;
//   - when both '.' and ',' appear, the one that appears last is the decimal
//     separator and must appear once; the other groups thousands;
//   - a lone '.' is always the decimal separator; two or more group thousands;
//   - a lone ',' followed by 1 to exponent digits is the decimal separator;
//     followed by exactly 3 digits it groups thousands ("1,250" is 1250 EUR),
//     except in a currency with 3 or more decimals, where "1,250" could be
//     either and is refused as ambiguous; two or more ',' group thousands;
//   - groups are 1 to 3 digits then exactly 3 digits each, with one kind of
//     group separator; both sides of the decimal separator need digits
//     ("0.50", not ".50" or "10.");
//   - more decimals than the currency has are refused, even zeros ("10.500"
//     in EUR), as are signs, currency symbols or codes, exponents, non-ASCII
//     digits, values that overflow int64 minor units and inputs over 64 bytes.
//
// Zero is accepted here; Request.Validate refuses it.
func ParseAmount(input, currency string) (Amount, error) {
	exp, ok := CurrencyExponent(currency)
	if !ok {
		return Amount{}, unknownCurrency(currency)
	}
	s := strings.TrimFunc(input, unicode.IsSpace)
	switch {
	case s == "":
		return Amount{}, fmt.Errorf("%w: it is empty", ErrAmountSyntax)
	case len(s) > maxAmountInput:
		return Amount{}, fmt.Errorf("%w: it is too long", ErrAmountSyntax)
	case s[0] == '-' || strings.HasPrefix(s, "\u2212"):
		return Amount{}, ErrNegativeAmount
	}
	norm, err := normaliseAmountInput(s)
	if err != nil {
		return Amount{}, err
	}
	intPart, frac, err := splitDecimal(norm, exp)
	if err != nil {
		return Amount{}, err
	}
	intDigits, err := ungroup(intPart)
	if err != nil {
		return Amount{}, err
	}
	if err := checkFraction(frac, exp, currency); err != nil {
		return Amount{}, err
	}
	minor, err := minorUnits(intDigits, frac, exp)
	if err != nil {
		return Amount{}, err
	}
	return Amount{Minor: minor, Currency: currency}, nil
}

// normaliseAmountInput maps every group-space rune to ' ' and refuses any
// rune other than ASCII digits, '.', ',' and those spaces.
func normaliseAmountInput(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '.', r == ',':
			b.WriteRune(r)
		case isGroupSpace(r):
			b.WriteByte(' ')
		default:
			return "", fmt.Errorf("%w (%q)", ErrAmountCharacter, r)
		}
	}
	return b.String(), nil
}

func isGroupSpace(r rune) bool {
	switch r {
	case ' ', '\u00a0', '\u2007', '\u2009', '\u202f':
		return true
	}
	return false
}

// splitDecimal finds the decimal separator (see ParseAmount) and returns
// what lies before and after it; frac is "" when there is none.
func splitDecimal(s string, exp int) (intPart, frac string, err error) {
	dots, commas := strings.Count(s, "."), strings.Count(s, ",")
	var sep byte
	switch {
	case dots > 0 && commas > 0:
		sep = s[max(strings.LastIndexByte(s, '.'), strings.LastIndexByte(s, ','))]
		if strings.Count(s, string(sep)) != 1 {
			return "", "", fmt.Errorf("%w (%q)", ErrSeparatorTwice, sep)
		}
	case dots == 1:
		sep = '.'
	case commas == 1:
		after := len(s) - strings.LastIndexByte(s, ',') - 1
		switch {
		case after == 3 && exp >= 3:
			return "", "", fmt.Errorf("%w: write 1250 or 1.250 rather than 1,250", ErrAmbiguousAmount)
		case after != 3:
			sep = ','
		}
	}
	if sep == 0 {
		return s, "", nil
	}
	i := strings.IndexByte(s, sep)
	intPart, frac = s[:i], s[i+1:]
	if frac == "" {
		return "", "", ErrNoDecimalDigits
	}
	return intPart, frac, nil
}

// ungroup checks the grouping of the integer part and returns its digits.
func ungroup(s string) (string, error) {
	if s == "" {
		return "", ErrNoLeadingDigit
	}
	sep := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			continue
		}
		if sep != 0 && c != sep {
			return "", fmt.Errorf("%w (it mixes them)", ErrAmountGrouping)
		}
		sep = c
	}
	if sep == 0 {
		return s, nil
	}
	groups := strings.Split(s, string(sep))
	for i, g := range groups {
		if g == "" || len(g) > 3 || (i > 0 && len(g) != 3) {
			return "", ErrAmountGrouping
		}
	}
	return strings.Join(groups, ""), nil
}

// checkFraction refuses separators inside the fraction and more digits than
// the currency's exponent.
func checkFraction(frac string, exp int, currency string) error {
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return ErrFractionDigits
		}
	}
	if len(frac) > exp {
		return tooManyDecimals(currency, exp)
	}
	return nil
}

// minorUnits combines ASCII digit strings into minor units, padding the
// fraction to exp digits; it fails on int64 overflow.
func minorUnits(intDigits, frac string, exp int) (int64, error) {
	all := intDigits + frac + strings.Repeat("0", exp-len(frac))
	all = strings.TrimLeft(all, "0")
	if all == "" {
		return 0, nil
	}
	if len(all) > 19 {
		return 0, ErrAmountOverflow
	}
	v, err := strconv.ParseInt(all, 10, 64)
	if err != nil {
		return 0, ErrAmountOverflow
	}
	return v, nil
}

// AmountFromJSONNumber reads an amount exactly as a provider sent it: the
// text of a JSON number (a string or a json.Number) or the content of a
// numeric JSON string. It follows the JSON number grammar strictly
// ("10.5", "10.50", "1.05e1", "1050e-2"; not "+1", "01", ".5", "1." or
// " 1"). Trailing zeros beyond the currency's exponent are accepted since the
// value stays exact ("10.500" is 1050 EUR), other extra digits are not.
// Negative amounts are refused. Exponents beyond ±9999 are refused.
func AmountFromJSONNumber[S ~string](rawNumber S, currency string) (Amount, error) {
	raw := string(rawNumber)
	exp, ok := CurrencyExponent(currency)
	if !ok {
		return Amount{}, unknownCurrency(currency)
	}
	if len(raw) > maxAmountInput {
		return Amount{}, fmt.Errorf("%w: it is too long", ErrAmountSyntax)
	}
	n, err := scanJSONNumber(raw)
	if err != nil {
		return Amount{}, err
	}
	if n.negative {
		return Amount{}, ErrNegativeAmount
	}
	minor, err := n.minorUnits(exp, currency)
	if err != nil {
		return Amount{}, err
	}
	return Amount{Minor: minor, Currency: currency}, nil
}

// jsonNumber is a scanned JSON number: value = digits × 10^pow10.
type jsonNumber struct {
	negative bool
	digits   string // significant digits, no leading zeros; "" means zero
	pow10    int
}

// scanJSONNumber parses the RFC 8259 number grammar without floats.
func scanJSONNumber(s string) (jsonNumber, error) {
	var n jsonNumber
	bad := fmt.Errorf("%w: it is not a JSON number", ErrAmountSyntax)
	i := 0
	if i < len(s) && s[i] == '-' {
		n.negative = true
		i++
	}
	intStart := i
	i = skipDigits(s, i)
	intPart := s[intStart:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return n, bad
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		start := i + 1
		i = skipDigits(s, start)
		frac = s[start:i]
		if frac == "" {
			return n, bad
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, next, err := scanExponent(s, i+1)
		if err != nil {
			return n, err
		}
		n.pow10, i = e, next
	}
	if i != len(s) {
		return n, bad
	}
	n.digits = strings.TrimLeft(intPart+frac, "0")
	n.pow10 -= len(frac)
	return n, nil
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// scanExponent reads [+-]digits starting at i, bounded to ±9999.
func scanExponent(s string, i int) (int, int, error) {
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	i = skipDigits(s, i)
	digits := strings.TrimLeft(s[start:i], "0")
	if i == start {
		return 0, i, fmt.Errorf("%w: it is not a JSON number", ErrAmountSyntax)
	}
	if len(digits) > 4 {
		return 0, i, fmt.Errorf("%w: its exponent is out of range", ErrAmountSyntax)
	}
	e := 0
	if digits != "" {
		e, _ = strconv.Atoi(digits) // at most 4 ASCII digits: cannot fail
	}
	if neg {
		e = -e
	}
	return e, i, nil
}

// minorUnits scales the number to exp decimals exactly.
func (n jsonNumber) minorUnits(exp int, currency string) (int64, error) {
	if n.digits == "" {
		return 0, nil
	}
	shift := n.pow10 + exp
	digits := n.digits
	if shift < 0 {
		drop := -shift
		if drop >= len(digits) || strings.TrimLeft(digits[len(digits)-drop:], "0") != "" {
			return 0, tooManyDecimals(currency, exp)
		}
		digits = digits[:len(digits)-drop]
	} else {
		if len(digits)+shift > 19 {
			return 0, ErrAmountOverflow
		}
		digits += strings.Repeat("0", shift)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, ErrAmountOverflow
	}
	return v, nil
}

func tooManyDecimals(currency string, exp int) error {
	if exp == 0 {
		return fmt.Errorf("%w (%s has no decimal places)", ErrTooManyDecimals, currency)
	}
	return fmt.Errorf("%w (%s has %d)", ErrTooManyDecimals, currency, exp)
}

func unknownCurrency(code string) error {
	if len(code) > 8 {
		code = code[:8] + "…"
	}
	return fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
}
