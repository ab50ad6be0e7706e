package handlers

import (
	"strings"
	"time"

	"github.com/bojanz/currency"

	"github.com/paylinks/paylinks/stablemint"
)

// moneyFormatter formats amounts for the staff locale (English, CLDR data).
var moneyFormatter = currency.NewFormatter(currency.NewLocale("en"))

// formatMoney renders minor units for people: "€1,250.00", "¥1,250",
// "KWD 1.250". It never goes through float64.
func formatMoney(minor int64, code string) string {
	a, err := currency.NewAmountFromInt64(minor, code)
	if err != nil {
		if amt, err2 := stablemint.NewAmount(minor, code); err2 == nil {
			return amt.String() + " " + code
		}
		return code
	}
	return moneyFormatter.Format(a)
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
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "minute"
	case d < 48*time.Hour:
		n, unit = int64(d/time.Hour), "hour"
	default:
		n, unit = int64(d/(24*time.Hour)), "day"
	}
	s := itoa(n) + " " + unit
	if n != 1 {
		s += "s"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// when formats a time for staff, in UTC (the server knows no user zone).
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
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
