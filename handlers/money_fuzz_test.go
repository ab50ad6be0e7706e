package handlers

import (
	"encoding/binary"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bojanz/currency"

	"github.com/paylinks/paylinks/stablemint"
)

// fzCurrencies are the codes staff can pick, indexed by the fuzzer.
var fzCurrencies = stablemint.Currencies()

func fzCurrency(i uint16) stablemint.Currency { return fzCurrencies[int(i)%len(fzCurrencies)] }

// fzMajor writes minor units as the plain decimal the amount means:
// 125000 with exponent 2 is "1250.00", -5 is "0.05" (the sign apart).
func fzMajor(minor int64, exp int) string {
	digits := new(big.Int).Abs(big.NewInt(minor)).String()
	if exp == 0 {
		return digits
	}
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	return digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
}

// fzInt64s and fzReadInt64s carry integers in a []byte: the fuzzer mutates
// int64 arguments only by small steps, bytes by any bits.
func fzInt64s(v ...int64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func fzReadInt64s(b []byte, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		var w [8]byte
		if len(b) > 0 {
			copy(w[:], b)
			b = b[min(8, len(b)):]
		}
		out[i] = int64(binary.BigEndian.Uint64(w[:]))
	}
	return out
}

// FuzzFormatMoney: what staff read is the amount stored. For every known
// currency and any minor amount, the figure in formatMoney's output, with
// its thousands separators removed, is exactly the minor units written with
// the currency's exponent, and it carries a minus sign exactly when the
// amount is negative.
func FuzzFormatMoney(f *testing.F) {
	for _, s := range []struct {
		minor int64
		cur   string
	}{{125000, "EUR"}, {5, "EUR"}, {0, "EUR"}, {1250, "JPY"}, {1250, "KWD"}, {12345, "CLF"}, {-950, "USD"},
		{1<<63 - 1, "EUR"}, {-1 << 63, "JPY"}, {1, "BHD"}, {999999999, "UYW"}} {
		for i, c := range fzCurrencies {
			if c.Code == s.cur {
				f.Add(fzInt64s(s.minor), uint16(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, idx uint16) {
		minor := fzReadInt64s(raw, 1)[0]
		cur := fzCurrency(idx)
		out := formatMoney(minor, cur.Code)
		first := strings.IndexFunc(out, isDigit)
		last := strings.LastIndexFunc(out, isDigit)
		if first < 0 {
			t.Fatalf("formatMoney(%d, %s) = %q: no figure", minor, cur.Code, out)
		}
		figure := strings.ReplaceAll(out[first:last+1], ",", "")
		if want := fzMajor(minor, cur.Exponent); figure != want {
			t.Fatalf("formatMoney(%d, %s) = %q: figure %q, want %q (exponent %d)", minor, cur.Code, out, figure, want, cur.Exponent)
		}
		if cldr := formatMoneyCLDR(minor, cur.Code); out != cldr {
			t.Fatalf("formatMoney(%d, %s) = %q, the Formatter writes %q", minor, cur.Code, out, cldr)
		}
		negative := strings.ContainsAny(out, "-\u2212")
		if negative != (minor < 0) {
			t.Fatalf("formatMoney(%d, %s) = %q: minus sign %v", minor, cur.Code, out, negative)
		}
	})
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// fzSplitCurrency takes off what stands before or after the number: the
// runes that are neither digits nor a number's punctuation. It returns the
// number and what was taken off, trimmed ("" when nothing was).
func fzSplitCurrency(s string) (number, written string) {
	inNumber := func(r rune) bool { return unicode.IsDigit(r) || strings.ContainsRune(".,'-+", r) }
	first := strings.IndexFunc(s, inNumber)
	last := strings.LastIndexFunc(s, inNumber)
	if first < 0 {
		return s, ""
	}
	_, size := utf8.DecodeRuneInString(s[last:])
	prefix, suffix := strings.TrimSpace(s[:first]), strings.TrimSpace(s[last+size:])
	if prefix != "" && suffix != "" {
		return s, "" // a currency on both sides is not one the form reads
	}
	return strings.TrimSpace(s[first : last+size]), prefix + suffix
}

func fzIsCode(code string) bool {
	for _, c := range fzCurrencies {
		if c.Code == code {
			return true
		}
	}
	return false
}

// FuzzAmountField: the create-link form's amount, in any currency. An
// accepted amount is positive, in the chosen currency, exactly what
// stablemint.ParseAmount makes of the trimmed input; and a link stored with
// it can be found again by typing the amount as paylinks stores and shows
// it (its AmountText is one of the search's amount candidates).
func FuzzAmountField(f *testing.F) {
	for _, s := range []struct{ amount, cur string }{
		{"9.50", "EUR"}, {" 9,50 ", "EUR"}, {"1", "JPY"}, {"1.250", "KWD"},
		{"10", "EUR"}, {"10.01", "EUR"}, {"0.1", "BHD"}, {"-1", "EUR"}, {"1e1", "EUR"}, {"٣", "EUR"},
		{"0.10\u00a0", "USD"}, {"9'50", "CHF"}, {"", "EUR"},
	} {
		for i, c := range fzCurrencies {
			if c.Code == s.cur {
				f.Add(s.amount, uint16(i))
			}
		}
	}
	limits := stablemint.SandboxLimits()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, amount string, idx uint16) {
		cur := fzCurrency(idx).Code
		in := parseLinkInput(url.Values{"amount": {amount}, "currency": {cur}})
		req, errs := in.draft().Validate(limits, now)
		if _, refused := errs["amount"]; refused {
			return
		}
		a := req.Amount
		if a.Minor <= 0 || a.Currency != cur || req.Currency != cur {
			t.Fatalf("amount %q %s accepted as %+v (request currency %q)", amount, cur, a, req.Currency)
		}
		number := strings.TrimSpace(amount)
		want, err := stablemint.ParseAmount(number, cur)
		if err != nil {
			// Accepted only as a number written with its currency: a sign
			// or code before or after it ("€10", "10 EUR", "1$"). A code
			// written out must be the one picked.
			var written string
			number, written = fzSplitCurrency(number)
			if written == "" {
				t.Fatalf("amount %q %s accepted as %+v, but ParseAmount refuses it (%v) and no currency is written beside it", amount, cur, a, err)
			}
			if code := strings.ToUpper(written); len(code) == 3 && code != cur && fzIsCode(code) {
				t.Fatalf("amount %q accepted for %s, though it is written in %s", amount, cur, code)
			}
			want, err = stablemint.ParseAmount(number, cur)
		}
		if err != nil || want != a {
			t.Fatalf("amount %q %s accepted as %+v; ParseAmount of %q says %+v, %v", amount, cur, a, number, want, err)
		}
		stored := a.String() // the AmountText a link created from this form keeps
		if c := amountCandidates(stored); !slices.Contains(c, stored) {
			t.Fatalf("a %s link of %q is stored with amount text %q, but searching %q looks for %q: it is never found by its amount",
				cur, amount, stored, stored, c)
		}
	})
}

// FuzzRelative: "just now" means less than a minute ago, "in less than a
// minute" less than a minute ahead; anything
// else says the right direction ("in …" for the future, "… ago" for the
// past) and, while the gap fits a time.Duration, the whole number of units.
func FuzzRelative(f *testing.F) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).Unix()
	for _, d := range []int64{0, 59, 60, -60, 3599, 3600, 47 * 3600, 48 * 3600, -86400 * 3, 86400 * 365 * 300} {
		f.Add(fzInt64s(now+d, 0, now, 0))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Two times (seconds, nanoseconds) between years 1 and 9999, as
		// stored times can be.
		v := fzReadInt64s(raw, 4)
		const lo, span = -62135596800, 253402300799 + 62135596800
		clamp := func(s, n int64) time.Time {
			s = lo + ((s-lo)%span+span)%span
			return time.Unix(s, n%1e9).UTC()
		}
		tt, nw := clamp(v[0], v[1]), clamp(v[2], v[3])
		got := relative(tt, nw)
		future := tt.After(nw)
		nearby := tt.After(nw.Add(-time.Minute)) && tt.Before(nw.Add(time.Minute))
		switch {
		case nearby && future:
			if got != "in less than a minute" {
				t.Fatalf("relative(%v, %v) = %q, want in less than a minute", tt, nw, got)
			}
			return
		case nearby:
			if got != "just now" {
				t.Fatalf("relative(%v, %v) = %q, want just now", tt, nw, got)
			}
			return
		case got == "just now" || got == "in less than a minute":
			t.Fatalf("relative(%v, %v) = just now, but they are %v apart", tt, nw, fzGap(tt, nw))
		case future && !strings.HasPrefix(got, "in "):
			t.Fatalf("relative(%v, %v) = %q: the time is in the future", tt, nw, got)
		case !future && !strings.HasSuffix(got, " ago"):
			t.Fatalf("relative(%v, %v) = %q: the time is in the past", tt, nw, got)
		}
		d := tt.Sub(nw)
		if d == time.Duration(1<<63-1) || d == time.Duration(-1<<63) {
			return // saturated: the number is a floor, not exact
		}
		if d < 0 {
			d = -d
		}
		var n int64
		switch {
		case d < time.Hour:
			n = int64(d / time.Minute)
		case d < 48*time.Hour:
			n = int64(d / time.Hour)
		default:
			n = int64(d / (24 * time.Hour))
		}
		if !strings.Contains(got, strconv.FormatInt(n, 10)+" ") {
			t.Fatalf("relative(%v, %v) = %q, want %d units", tt, nw, got, n)
		}
	})
}

// fzGap is |a-b| in hours, without time.Duration's 292-year limit.
func fzGap(a, b time.Time) string {
	s := a.Unix() - b.Unix()
	if s < 0 {
		s = -s
	}
	return strconv.FormatInt(s/3600, 10) + "h"
}

// FuzzMask: a masked value keeps the first character of each word and
// nothing else of it: every other character becomes "•" (at most six per
// word), and the words stay as many as they were.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"", "Jane Doe", "a", "  spaced   out  ", "Ünïcödé Ñame", "x\u00a0y", "日本語 テキスト", "\xff\xfe", "averyveryverylongname"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := mask(s)
		in, got := strings.Fields(s), strings.Fields(out)
		if len(in) != len(got) {
			t.Fatalf("mask(%q) = %q: %d words, want %d", s, out, len(got), len(in))
		}
		for i, w := range in {
			r := []rune(w)
			g := []rune(got[i])
			if len(g) != 1+min(len(r)-1, 6) || g[0] != r[0] {
				t.Fatalf("mask(%q) word %d = %q, want %q then %d dots", s, i, got[i], string(r[0]), min(len(r)-1, 6))
			}
			for _, c := range g[1:] {
				if c != '•' {
					t.Fatalf("mask(%q) word %d = %q: leaks %q", s, i, got[i], c)
				}
			}
		}
		if !utf8.ValidString(out) {
			t.Fatalf("mask(%q) = %q: not UTF-8", s, out)
		}
	})
}

// TestFormatMoneyMatchesTheCLDRFormatter: the fast path writes exactly what
// bojanz's Formatter writes, for every currency it knows (and every code
// staff can pick) and amounts across every grouping and decimal boundary.
func TestFormatMoneyMatchesTheCLDRFormatter(t *testing.T) {
	codes := currency.GetCurrencyCodes()
	for _, c := range fzCurrencies {
		codes = append(codes, c.Code)
	}
	amounts := []int64{0, 1, 5, 9, 10, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 12345, 99999, 100000,
		999999, 1000000, 1234567, 100000000, 123456789012, 1<<53 + 1, 1<<63 - 1}
	fast := 0
	for _, code := range codes {
		if _, ok := affixesFor(code); ok {
			fast++
		}
		for _, m := range amounts {
			if got, want := formatMoney(m, code), formatMoneyCLDR(m, code); got != want {
				t.Errorf("formatMoney(%d, %s) = %q, the Formatter writes %q", m, code, got, want)
			}
		}
	}
	// The fast path is taken: every code staff can pick has affixes.
	for _, c := range fzCurrencies {
		if _, ok := affixesFor(c.Code); !ok {
			t.Errorf("%s: no fast path", c.Code)
		}
	}
	t.Logf("%d of %d codes on the fast path", fast, len(codes))
}
