package stablemint

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDecimalScale bounds the fraction digits of a Decimal.
const maxDecimalScale = 18

// Decimal is an exact, non-negative, currency-less decimal number, used for
// the configured amount limits ("0.1", "10"). The zero value is 0.
type Decimal struct {
	coef  int64 // value = coef / 10^scale
	scale int
}

// ParseDecimal reads a plain non-negative decimal: digits, optionally a dot
// and up to 18 more digits ("0.1", "10", "10.00"). No signs, separators,
// spaces or exponents.
func ParseDecimal(s string) (Decimal, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return Decimal{}, fmt.Errorf("%w: %q is not a plain decimal such as 0.1 or 10", ErrAmountSyntax, truncate(s, 32))
	}
	if len(frac) > maxDecimalScale {
		return Decimal{}, fmt.Errorf("%w: more than %d decimal places", ErrAmountSyntax, maxDecimalScale)
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return Decimal{scale: len(frac)}, nil
	}
	if len(digits) > 19 {
		return Decimal{}, ErrAmountOverflow
	}
	coef, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Decimal{}, ErrAmountOverflow
	}
	return Decimal{coef: coef, scale: len(frac)}, nil
}

// String writes the decimal with its own number of fraction digits ("0.1").
func (d Decimal) String() string { return formatMinor(d.coef, d.scale) }

// IsZero reports whether the value is zero.
func (d Decimal) IsZero() bool { return d.coef == 0 }

// Cmp compares exactly: -1 if d < e, 0 if equal, +1 if d > e.
func (d Decimal) Cmp(e Decimal) int {
	scale := max(d.scale, e.scale)
	return d.scaled(scale).Cmp(e.scaled(scale))
}

func (d Decimal) scaled(scale int) *big.Int {
	v := big.NewInt(d.coef)
	if scale > d.scale {
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.scale)), nil))
	}
	return v
}

// Limits bounds the amount of a hosted session, in major units of whatever
// currency the request uses (Min 0.1 allows 0.10 EUR and 0.100 KWD; JPY
// cannot go below 1). A zero Min or Max means no bound on that side;
// amounts must be above zero regardless.
type Limits struct {
	Min, Max Decimal
}

// SandboxLimits are the only limits StableMint documents, those of its own
// sandbox: 0.1 to 10 inclusive. paylinks applies them in demo mode, where
// the built-in sandbox enforces them too; a Config that sets no limits has
// none.
func SandboxLimits() Limits {
	return Limits{Min: Decimal{coef: 1, scale: 1}, Max: Decimal{coef: 10}}
}

// String writes the limits as "0.1 to 10", "at least 1", "at most 10" or
// "none".
func (l Limits) String() string {
	switch {
	case !l.Min.IsZero() && !l.Max.IsZero():
		return l.Min.String() + " to " + l.Max.String()
	case !l.Min.IsZero():
		return "at least " + l.Min.String()
	case !l.Max.IsZero():
		return "at most " + l.Max.String()
	}
	return "none"
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes, on a rune boundary, adding "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
