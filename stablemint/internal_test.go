package stablemint

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10", 10 * time.Second, true},
		{" 0 ", 0, true},
		{"Wed, 25 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Wed, 25 Nov 2026 09:00:00 GMT", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"9999999999", 0, false},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBreakerStates(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b := newBreaker(2, 30*time.Second)
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"starts closed", func() {}, BreakerClosed},
		{"one failure", func() { b.failure(now, false) }, BreakerClosed},
		{"success resets", func() { b.success() }, BreakerClosed},
		{"failure again", func() { b.failure(now, false) }, BreakerClosed},
		{"second consecutive failure opens", func() { b.failure(now, false) }, BreakerOpen},
		{"late failure of an older call changes nothing", func() { b.failure(now.Add(10*time.Second), false) }, BreakerOpen},
		{"cool-down over", func() { now = now.Add(30 * time.Second) }, BreakerHalfOpen},
		{"probe abandoned", func() {
			if ok, probe := b.allow(now); !ok || !probe {
				t.Fatalf("allow = %v, %v; want a probe", ok, probe)
			}
			if ok, _ := b.allow(now); ok {
				t.Fatal("second caller allowed during the probe")
			}
			b.abandon(true)
		}, BreakerHalfOpen},
		{"probe fails", func() {
			_, probe := b.allow(now)
			b.failure(now, probe)
		}, BreakerOpen},
		{"probe succeeds", func() {
			now = now.Add(30 * time.Second)
			b.allow(now)
			b.success()
		}, BreakerClosed},
	}
	for _, s := range steps {
		s.do()
		if got := b.current(now); got != s.want {
			t.Fatalf("%s: state = %s, want %s", s.name, got, s.want)
		}
	}
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123+01:00", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z", "17956008001795600800", "2026-11-25 10:00:00Z", "",
		"2026-11-25T10:00:00", "2026-11-25t10:00:00.5z", "2026-11-25T11:00:00+0100", "1795600800.25",
		"1000000000000", "1000000000000.5", "1.7956008e9", "253402300799999", "1e-9999", "1e9999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseWebhookTimestamp(s)
		if err != nil {
			return
		}
		if len(s) > maxTimestampHeader || strings.TrimSpace(s) != s {
			t.Fatalf("accepted %q", s)
		}
		if y := ts.Year(); y < 0 || y > 10000 {
			t.Fatalf("%q parsed to year %d", s, y)
		}
	})
}

func FuzzParseSignatureHeader(f *testing.F) {
	sig := base64.StdEncoding.EncodeToString(make([]byte, 256))
	for _, s := range []string{sig, sig + "\n", " " + sig, sig[:len(sig)-1], "AAAA", "AA==", "AB==", "A===", "====", "", "-_-_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := decodeSignature(s)
		if err != nil {
			return
		}
		if back := base64.StdEncoding.EncodeToString(raw); back != s {
			t.Fatalf("decodeSignature accepted non-canonical %q (canonical %q)", s, back)
		}
	})
}

// FuzzParseExpiresAt: whatever is read is "unknown" (the zero time) or a
// UTC time from 1970 to 9999.
func FuzzParseExpiresAt(f *testing.F) {
	for _, s := range []string{"1767225600", "1767225600000", "1000000000000", "1000000000001", "0", "-1", "1.5", "1e9",
		"253402300799", "253402300800", "253402300799999", "99999999999999999999", "null", `"1"`,
		"1767225600.5", "1767225600123.456", "1.7672256e9", "1e-9999", "-0", `""`, `"2026-01-01T00:00:00Z"`,
		`"2026-01-01T00:00:00"`, `"2026-01-01T01:00:00+0100"`, `"1969-12-31T23:59:59Z"`, `{}`, `true`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseExpiresAt(s)
		if err != nil || ts.IsZero() {
			return
		}
		if ts.Year() < 1970 || ts.Year() > 9999 || ts.Location() != time.UTC {
			t.Fatalf("ParseExpiresAt(%q) = %v", s, ts)
		}
	})
}

// FuzzCheckCheckoutURL: whatever is accepted is https (or http on loopback)
// on exactly an allowed host, or https on a host name under an allowed
// "*." domain, without a port.
func FuzzCheckCheckoutURL(f *testing.F) {
	hosts := []string{"pay.example", "127.0.0.1:9090", "*.stablemint.io"}
	for _, s := range []string{"https://pay.example/x", "http://127.0.0.1:9090/x", "javascript:alert(1)", "//evil.example",
		"https://pay.example@evil.example", "https://evil.example#@pay.example", "HTTPS://PAY.EXAMPLE/",
		"https://checkout.stablemint.io/x", "https://evilstablemint.io/x", "https://stablemint.io/x",
		"https://checkout.stablemint.io:8443/x", "https://checkout.stablemint.io.evil.example/x", "http://checkout.stablemint.io/x",
		"https://x..stablemint.io/", "https://-x.stablemint.io/", "https://a_b.stablemint.io/", "https://pay.eu.STABLEMINT.io/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckCheckoutURL(s, hosts)
		var untrusted *UntrustedCheckoutError
		if errors.As(err, &untrusted) {
			if u, perr := url.Parse(s); perr != nil || strings.ToLower(u.Host) != untrusted.Host {
				t.Fatalf("UntrustedCheckoutError for %q names %q", s, untrusted.Host)
			}
		}
		if err != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted unparsable %q", s)
		}
		host := strings.ToLower(u.Host)
		sub, underDomain := strings.CutSuffix(host, ".stablemint.io")
		switch {
		case u.Scheme == "https" && (host == "pay.example" || host == "127.0.0.1:9090"):
		case u.Scheme == "http" && host == "127.0.0.1:9090":
		case u.Scheme == "https" && underDomain && sub != "" && !strings.ContainsAny(sub, ":[]_") &&
			!strings.HasPrefix(sub, ".") && !strings.HasSuffix(sub, ".") && !strings.Contains(sub, ".."):
		default:
			t.Fatalf("accepted %q (scheme %q host %q)", s, u.Scheme, u.Host)
		}
		if u.User != nil {
			t.Fatalf("accepted user info in %q", s)
		}
	})
}
