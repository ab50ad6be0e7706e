package stablemint

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Session is a created hosted session.
type Session struct {
	// URL is the hosted checkout page. When CreateHostedSession returns it
	// with an *UntrustedCheckoutError, its host is not an allowed one: send
	// no one there until that host is approved.
	URL string
	// ExpiresAt is when the session expires, in UTC; the zero time when
	// StableMint gave no readable expiry ("expiry unknown": never expire
	// such a session on a guess).
	ExpiresAt time.Time
	// Reference is StableMint's reference for the session.
	Reference string
}

// maxExpiresAtJSON bounds the expiresAt JSON text read (a longer value is
// not a time).
const maxExpiresAtJSON = 64

// parseSession reads a 2xx body into a Session or says why it is unusable.
// A well-formed checkout URL on a host that is not allowed gives the whole
// Session and an *UntrustedCheckoutError. An expiresAt that is present but
// cannot be read leaves ExpiresAt zero and comes back as expiryErr, for the
// log: it never makes the answer unusable.
func parseSession(body []byte, hosts []string) (s Session, expiryErr, err error) {
	var w struct {
		URL       json.RawMessage `json:"url"`
		ExpiresAt json.RawMessage `json:"expiresAt"`
		Reference json.RawMessage `json:"reference"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Session{}, nil, errors.New("its body is not a JSON object")
	}
	var rawURL string
	if json.Unmarshal(w.URL, &rawURL) != nil || rawURL == "" {
		return Session{}, nil, errors.New("checkout url is missing")
	}
	if _, err := parseCheckoutURL(rawURL); err != nil {
		return Session{}, nil, err
	}
	if json.Unmarshal(w.Reference, &s.Reference) != nil || strings.TrimSpace(s.Reference) == "" {
		return Session{}, nil, errors.New("reference is missing")
	}
	if len(s.Reference) > maxIDLength || hasControl(s.Reference) {
		return Session{}, nil, errors.New("reference is malformed")
	}
	s.URL = rawURL
	s.ExpiresAt, expiryErr = ParseExpiresAt(string(w.ExpiresAt))
	return s, expiryErr, CheckCheckoutURL(rawURL, hosts)
}

// ParseExpiresAt reads the expiresAt field of a create answer, given as its
// raw JSON text ("" when the field is missing). The unit is undocumented,
// so it accepts:
//
//   - a JSON number: Unix milliseconds when above 1e12, otherwise Unix
//     seconds, with or without a fraction or an exponent (1767225600,
//     1767225600.5, 1767225600000, 1.7672256e9);
//   - a JSON string holding such a number, or an ISO 8601 / RFC 3339 date
//     and time with or without a zone (no zone means UTC), fraction
//     allowed: "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00",
//     "2026-01-01T00:00:00".
//
// 0 (the document's own example), null, "" or a missing field mean "expiry
// unknown": the zero time and no error. Anything else (a negative number,
// other JSON, another spelling, a time before 1970 or after 9999) is an
// error; the client then also treats the expiry as unknown. A time in the
// past is returned as it is. The result is in UTC.
func ParseExpiresAt(raw string) (time.Time, error) {
	switch {
	case raw == "" || raw == "null" || raw == `""`:
		return time.Time{}, nil
	case len(raw) > maxExpiresAtJSON:
		return time.Time{}, errors.New("expiresAt is too long to be a time")
	}
	text := raw
	if raw[0] == '"' {
		if json.Unmarshal([]byte(raw), &text) != nil {
			return time.Time{}, errors.New("expiresAt is not a JSON string or number")
		}
	} else if n, err := scanJSONNumber(raw); err == nil && n.digits == "" {
		return time.Time{}, nil // 0, -0, 0.0, 0e5
	}
	if n, err := scanJSONNumber(text); err == nil && n.digits == "" {
		return time.Time{}, nil // "0"
	}
	t, err := parseTimeText(text)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("expiresAt %s is %w", truncate(raw, 40), err)
	case t.Year() < 1970:
		return time.Time{}, fmt.Errorf("expiresAt %s is before 1970", truncate(raw, 40))
	}
	return t, nil
}

// parseCheckoutURL checks everything about a checkout URL but its host:
// absolute https (or http on a loopback host), no user info, no control
// characters, spaces or backslashes, at most 2048 bytes.
func parseCheckoutURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLength || hasControl(raw) || strings.ContainsAny(raw, " \\") {
		return nil, errors.New("checkout url is malformed")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("checkout url is not an absolute web address")
	}
	if u.User != nil {
		return nil, errors.New("checkout url carries user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, errors.New("checkout url is plain http on a non-loopback host")
		}
	default:
		return nil, fmt.Errorf("checkout url has scheme %q, not https", truncate(u.Scheme, 16))
	}
	return u, nil
}

// CheckCheckoutURL accepts a checkout URL only if it is absolute https (or
// http on a loopback host: 127.0.0.0/8, ::1, localhost), has no user info,
// and its host is allowed by allowedHosts (see CheckoutHosts in Config): an
// entry "host" or "host:port" allows exactly that host, compared
// case-insensitively ("pay.example" does not allow "pay.example:443" or
// "x.pay.example"); an entry "*.domain" allows any host under domain, at any
// depth, without a port ("*.stablemint.io" allows "checkout.stablemint.io"
// and "pay.eu.stablemint.io", not "stablemint.io", "evilstablemint.io" or
// "checkout.stablemint.io:8443"). A well-formed URL on another host gives
// an *UntrustedCheckoutError naming it; any other fault a plain error. Use
// it again before redirecting to or rendering a stored URL.
func CheckCheckoutURL(raw string, allowedHosts []string) error {
	u, err := parseCheckoutURL(raw)
	if err != nil {
		return err
	}
	host := strings.ToLower(u.Host)
	if !hostAllowed(host, allowedHosts) {
		return &UntrustedCheckoutError{Host: host}
	}
	return nil
}

// hostAllowed matches a lower-case URL host against allow-list entries.
func hostAllowed(host string, allowed []string) bool {
	for _, h := range allowed {
		if domain, ok := strings.CutPrefix(h, "*."); ok {
			sub, found := strings.CutSuffix(host, "."+strings.ToLower(domain))
			if found && isDNSName(sub) {
				return true
			}
			continue
		}
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// isDNSName reports one or more dot-separated labels of letters, digits
// and hyphens, none empty and none starting or ending with a hyphen.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isLoopbackHost reports 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// normaliseHost validates a configured checkout host ("host", "host:port"
// or "*.domain", no scheme or path) and lower-cases it. A wildcard needs a
// domain of at least two labels ("*.io" is refused) and no port.
func normaliseHost(h string) (string, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if domain, ok := strings.CutPrefix(h, "*."); ok {
		if !isDNSName(domain) || !strings.Contains(domain, ".") {
			return "", fmt.Errorf("%q is not a wildcard such as *.example.com (a domain of two labels or more, no port)", truncate(h, 64))
		}
		return h, nil
	}
	if h == "" || strings.ContainsAny(h, "/?#@* \\") || hasControl(h) {
		return "", fmt.Errorf("%q is not a host, host:port or *.domain", truncate(h, 64))
	}
	u, err := url.Parse("https://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not a host, host:port or *.domain", truncate(h, 64))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q has an invalid port", truncate(h, 64))
		}
	}
	if strings.HasSuffix(h, ":") {
		return "", fmt.Errorf("%q has an empty port", truncate(h, 64))
	}
	return h, nil
}

// DefaultCheckoutHosts is the checkout-host allow list used when none is
// configured: any host under StableMint's two domains ("*.stablemint.io",
// "*.stablemint.net": the document places the API there and its checkout
// host is undocumented), plus the base URL's host (with its port, if any;
// our sandbox serves its checkout pages there). A checkout URL elsewhere
// gives the session with an *UntrustedCheckoutError naming the host.
func DefaultCheckoutHosts(baseURL string) []string {
	hosts := []string{"*.stablemint.io", "*.stablemint.net"}
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		hosts = append([]string{strings.ToLower(u.Host)}, hosts...)
	}
	return hosts
}
