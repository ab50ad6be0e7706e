package handlers

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bojanz/currency"

	"github.com/paylinks/paylinks/stablemint"
)

// moneyFormatter formats amounts for the staff locale (English, CLDR data).
var moneyFormatter = currency.NewFormatter(currency.NewLocale("en"))

// formatMoney renders minor units for people: "€1,250.00", "¥1,250",
// "KWD 1.250". It never goes through float64.
//
// A non-negative amount in a known currency takes moneyAffixes' fast path:
// bojanz's Formatter builds a strings.Replacer and a decimal per call, a
// visible share of a links page (docs/performance.md has the figures).
func formatMoney(minor int64, code string) string {
	if minor >= 0 {
		if af, ok := affixesFor(code); ok {
			return af.format(minor)
		}
	}
	return formatMoneyCLDR(minor, code)
}

// formatMoneyCLDR is formatMoney through bojanz's Formatter, for every
// amount.
func formatMoneyCLDR(minor int64, code string) string {
	a, err := currency.NewAmountFromInt64(minor, code)
	if err != nil {
		if amt, err2 := stablemint.NewAmount(minor, code); err2 == nil {
			return amt.String() + " " + code
		}
		return code
	}
	return moneyFormatter.Format(a)
}

// moneyAffix is how the English CLDR pattern writes a non-negative amount
// of one currency: the text before and after the figure, and the figure's
// decimals. For "en" the figure is the integer part grouped by threes with
// "," and then "." and exactly digits decimals.
type moneyAffix struct {
	pre, post string
	digits    int
}

// moneyAffixes caches each known currency's moneyAffix, or noAffix for one
// whose affixes would not reproduce the Formatter exactly (see affixesFor).
var moneyAffixes sync.Map // code → moneyAffix

// noAffix marks a currency that keeps the Formatter.
var noAffix = moneyAffix{digits: -1}

// affixesFor derives a currency's affixes from the Formatter's own output
// for zero, and keeps them only if they then reproduce the Formatter on a
// probe amount with every grouping and decimal; otherwise formatMoney
// keeps using the Formatter for that currency.
func affixesFor(code string) (moneyAffix, bool) {
	if v, ok := moneyAffixes.Load(code); ok {
		af := v.(moneyAffix)
		return af, af != noAffix
	}
	d, ok := currency.GetDigits(code)
	if !ok {
		return moneyAffix{}, false // unknown: not cached, the set stays bounded
	}
	af, ok := deriveAffixes(code, int(d))
	if !ok {
		af = noAffix
	}
	moneyAffixes.Store(code, af)
	return af, ok
}

// deriveAffixes is affixesFor's work for a known currency.
func deriveAffixes(code string, d int) (moneyAffix, bool) {
	if d > 18 {
		return moneyAffix{}, false
	}
	zero := "0"
	if d > 0 {
		zero += "." + strings.Repeat("0", d)
	}
	s := formatMoneyCLDR(0, code)
	i := strings.Index(s, zero)
	if i < 0 || strings.Count(s, zero) != 1 {
		return moneyAffix{}, false
	}
	af := moneyAffix{pre: s[:i], post: s[i+len(zero):], digits: d}
	for _, probe := range []int64{1234567890123, 7, 1<<63 - 1} {
		if af.format(probe) != formatMoneyCLDR(probe, code) {
			return moneyAffix{}, false
		}
	}
	return af, true
}

// format writes a non-negative minor amount.
func (af moneyAffix) format(minor int64) string {
	var num [20]byte
	digits := strconv.AppendInt(num[:0], minor, 10)
	if len(digits) <= af.digits { // 5 cents: "0.05"
		pad := make([]byte, 0, af.digits+1)
		for range af.digits + 1 - len(digits) {
			pad = append(pad, '0')
		}
		digits = append(pad, digits...)
	}
	intPart, frac := digits[:len(digits)-af.digits], digits[len(digits)-af.digits:]
	b := make([]byte, 0, len(af.pre)+len(digits)+len(digits)/3+2+len(af.post))
	b = append(b, af.pre...)
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	if af.digits > 0 {
		b = append(b, '.')
		b = append(b, frac...)
	}
	return string(append(b, af.post...))
}

// relative says how far t is from now, in the largest whole unit:
// "in 3 hours", "2 days ago", "just now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = now.Sub(t) // not -d: Sub saturates, and -minDuration overflows
	}
	var n int64
	var unit string
	switch {
	case d < time.Minute && future:
		return "in less than a minute" // a retry due in 40 s is not "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "minute"
	case d < 48*time.Hour:
		n, unit = int64(d/time.Hour), "hour"
	default:
		n, unit = int64(d/(24*time.Hour)), "day"
	}
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// mask hides most of a personal value from viewers: "J••• D•••".
func mask(s string) string {
	if s == "" {
		return ""
	}
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(w)
		words[i] = string(r[0]) + strings.Repeat("•", min(len(r)-1, 6))
	}
	return strings.Join(words, " ")
}
