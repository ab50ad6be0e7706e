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
	// URL is the hosted checkout page, already checked against the allowed
	// checkout hosts.
	URL string
	// ExpiresAt is when the session expires, in UTC.
	ExpiresAt time.Time
	// Reference is StableMint's reference for the session.
	Reference string
}

// msThreshold: an expiresAt above it is Unix milliseconds, else seconds.
const msThreshold = 1_000_000_000_000

// maxExpiresAtSeconds is 9999-12-31T23:59:59Z.
const maxExpiresAtSeconds = 253402300799

// parseSession reads a 2xx body into a Session or says why it is unusable.
func parseSession(body []byte, hosts []string) (Session, error) {
	var w struct {
		URL       json.RawMessage `json:"url"`
		ExpiresAt json.RawMessage `json:"expiresAt"`
		Reference json.RawMessage `json:"reference"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Session{}, errors.New("its body is not a JSON object")
	}
	var s Session
	var rawURL string
	if json.Unmarshal(w.URL, &rawURL) != nil || rawURL == "" {
		return Session{}, errors.New("checkout url is missing")
	}
	if err := CheckCheckoutURL(rawURL, hosts); err != nil {
		return Session{}, err
	}
	s.URL = rawURL
	exp, err := ParseExpiresAt(string(w.ExpiresAt))
	if err != nil {
		return Session{}, err
	}
	s.ExpiresAt = exp
	if json.Unmarshal(w.Reference, &s.Reference) != nil || strings.TrimSpace(s.Reference) == "" {
		return Session{}, errors.New("reference is missing")
	}
	if len(s.Reference) > maxIDLength || hasControl(s.Reference) {
		return Session{}, errors.New("reference is malformed")
	}
	return s, nil
}

// ParseExpiresAt reads the expiresAt JSON number of a create response: a
// positive integer, read as Unix milliseconds when above 1e12, otherwise as
// Unix seconds. Fractions, exponents, strings, zero and dates after the year
// 9999 are refused. The result is in UTC.
func ParseExpiresAt(raw string) (time.Time, error) {
	if raw == "" || raw == "null" {
		return time.Time{}, errors.New("expiresAt is missing")
	}
	if len(raw) > 19 || !allDigits(raw) || raw[0] == '0' {
		return time.Time{}, fmt.Errorf("expiresAt %s is not a positive whole number", truncate(raw, 24))
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("expiresAt is out of range")
	}
	if v > msThreshold {
		if v/1000 > maxExpiresAtSeconds {
			return time.Time{}, errors.New("expiresAt is out of range")
		}
		return time.UnixMilli(v).UTC(), nil
	}
	if v > maxExpiresAtSeconds {
		return time.Time{}, errors.New("expiresAt is out of range")
	}
	return time.Unix(v, 0).UTC(), nil
}

// CheckCheckoutURL accepts a checkout URL only if it is absolute https (or
// http on a loopback host: 127.0.0.0/8, ::1, localhost), has no user info,
// and its host (with port, if any) equals one of allowedHosts, compared
// case-insensitively and exactly: "pay.example" does not allow
// "pay.example:443" or "x.pay.example". Use it again before redirecting to
// or rendering a stored URL.
func CheckCheckoutURL(raw string, allowedHosts []string) error {
	if len(raw) > maxURLLength || hasControl(raw) || strings.ContainsAny(raw, " \\") {
		return errors.New("checkout url is malformed")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return errors.New("checkout url is not an absolute web address")
	}
	if u.User != nil {
		return errors.New("checkout url carries user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("checkout url is plain http on a non-loopback host")
		}
	default:
		return fmt.Errorf("checkout url has scheme %q, not https", truncate(u.Scheme, 16))
	}
	if !hostAllowed(u.Host, allowedHosts) {
		return fmt.Errorf("checkout url host %q is not in STABLEMINT_CHECKOUT_HOSTS", truncate(u.Host, 64))
	}
	return nil
}

func hostAllowed(host string, allowed []string) bool {
	for _, h := range allowed {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// isLoopbackHost reports 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// normaliseHost validates a configured checkout host ("host" or
// "host:port", no scheme or path) and lower-cases it.
func normaliseHost(h string) (string, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" || strings.ContainsAny(h, "/?#@ \\") || hasControl(h) {
		return "", fmt.Errorf("%q is not a host or host:port", truncate(h, 64))
	}
	u, err := url.Parse("https://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not a host or host:port", truncate(h, 64))
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
// configured: the base URL's host, plus, for StableMint's two API hosts,
// checkout.stablemint.io or checkout.stablemint.net. The real checkout host
// is undocumented; a host not listed fails closed with a ResponseError that
// names it, so configure STABLEMINT_CHECKOUT_HOSTS once it is known.
func DefaultCheckoutHosts(baseURL string) []string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil
	}
	host := strings.ToLower(u.Host)
	hosts := []string{host}
	switch strings.ToLower(u.Hostname()) {
	case productionHost:
		hosts = append(hosts, "checkout.stablemint.io")
	case stablemintSandboxHost:
		hosts = append(hosts, "checkout.stablemint.net")
	}
	return hosts
}

// StableMint's documented API hosts.
const (
	productionHost        = "paymentinitiationservice-rest.stablemint.io"
	stablemintSandboxHost = "paymentinitiationservice-rest.stablemint.net"
)
