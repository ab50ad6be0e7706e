package stablemint

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Times arrive from StableMint in two places, a create answer's expiresAt
// and the StableMint-Timestamp webhook header, and its documents allow
// several spellings for both. parseTimeText reads all of them:
//
//   - Unix time, written as a JSON number without a sign: digits, an
//     optional fraction and an optional exponent ("1767225600",
//     "1767225600.5", "1.7672256e9"). A value above 1e12 is milliseconds,
//     anything else seconds (StableMint's document: "read a value above
//     1e12 as Unix milliseconds, otherwise as Unix seconds"; 1e12 ms is
//     2001-09-09, 1e12 s would be after the year 9999). Digits beyond the
//     nanosecond are cut, not rounded.
//   - ISO 8601 extended date and time, the RFC 3339 profile:
//     YYYY-MM-DDThh:mm:ss, an optional fraction of 1 to 9 digits, and an
//     optional zone: Z, ±hh:mm or ±hhmm. No zone means UTC. 'T' and 'Z' may
//     be lower case (RFC 3339 allows it). A space for 'T', the basic format
//     (20261125T100000Z), a date alone or a time without seconds are not
//     read.
//
// No surrounding spaces, signs or leading zeros. The result is in UTC and
// between the year 0 and 9999 (ISO) or 1970 and 9999 (Unix).

// msThreshold: a Unix time above it is milliseconds, else seconds.
const msThreshold = 1_000_000_000_000

// maxUnixSeconds is 9999-12-31T23:59:59Z.
const maxUnixSeconds = 253402300799

var (
	errTimeSyntax = errors.New("not a Unix time or an ISO 8601 date and time")
	errTimeRange  = errors.New("after the year 9999")
)

// parseTimeText reads s as a Unix time or an ISO 8601 date and time.
func parseTimeText(s string) (time.Time, error) {
	if s != "" && s[0] >= '0' && s[0] <= '9' && !isISOPrefix(s) {
		return parseUnixNumber(s)
	}
	return parseISOTime(s)
}

// isISOPrefix tells "2026-…" (a date) from a number that starts with
// digits.
func isISOPrefix(s string) bool { return len(s) > 4 && s[4] == '-' }

// parseUnixNumber reads an unsigned JSON number as Unix seconds or, above
// 1e12, milliseconds.
func parseUnixNumber(s string) (time.Time, error) {
	n, err := scanJSONNumber(s)
	if err != nil || n.negative {
		return time.Time{}, errTimeSyntax
	}
	// value = digits × 10^pow10; split it into whole units and a fraction.
	intLen := len(n.digits) + n.pow10 // digits before the decimal point
	var whole, frac string
	switch {
	case n.digits == "":
		return time.Unix(0, 0).UTC(), nil
	case intLen > 16: // above 9999-12-31 even as milliseconds
		return time.Time{}, errTimeRange
	case n.pow10 >= 0:
		whole = n.digits + strings.Repeat("0", n.pow10)
	case intLen <= 0:
		whole, frac = "0", strings.Repeat("0", min(-intLen, 10))+n.digits
	default:
		whole, frac = n.digits[:intLen], n.digits[intLen:]
	}
	v, _ := strconv.ParseInt(whole, 10, 64) // at most 16 digits: cannot fail
	var sec, nsec int64
	if v > msThreshold || (v == msThreshold && strings.Trim(frac, "0") != "") {
		sec, nsec = v/1000, (v%1000)*1e6+fractionDigits(frac, 6)
	} else {
		sec, nsec = v, fractionDigits(frac, 9)
	}
	if sec > maxUnixSeconds {
		return time.Time{}, errTimeRange
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// fractionDigits reads the first n digits of a fraction as an integer
// (".5" with n = 3 is 500); later digits are cut.
func fractionDigits(frac string, n int) int64 {
	frac = (frac + strings.Repeat("0", n))[:n]
	v, _ := strconv.ParseInt(frac, 10, 64)
	return v
}

// parseISOTime reads YYYY-MM-DDThh:mm:ss[.f][Z|±hh:mm|±hhmm]; no zone is
// UTC.
func parseISOTime(s string) (time.Time, error) {
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(shape) || strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 }) {
		return time.Time{}, errTimeSyntax
	}
	u := strings.ToUpper(s) // ASCII only: the same length
	for i := 0; i < len(shape); i++ {
		if ok := shape[i] == u[i] || (shape[i] == 'd' && u[i] >= '0' && u[i] <= '9'); !ok {
			return time.Time{}, errTimeSyntax
		}
	}
	rest := u[len(shape):]
	if strings.HasPrefix(rest, ".") {
		n := skipDigits(rest, 1) - 1
		if n < 1 || n > 9 {
			return time.Time{}, errTimeSyntax
		}
		rest = rest[1+n:]
	}
	// time.Parse reads a fraction after the seconds without one in the
	// layout, and checks the ranges (month 13, 30 February, hour 24).
	var layout string
	switch {
	case rest == "":
		layout = "2006-01-02T15:04:05" // UTC
	case rest == "Z", len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && allDigits(rest[1:3]+rest[4:]):
		layout = "2006-01-02T15:04:05Z07:00"
	case len(rest) == 5 && (rest[0] == '+' || rest[0] == '-') && allDigits(rest[1:]):
		layout = "2006-01-02T15:04:05Z0700"
	default:
		return time.Time{}, errTimeSyntax
	}
	t, err := time.Parse(layout, u)
	if err != nil {
		return time.Time{}, errTimeSyntax
	}
	return t.UTC(), nil
}
