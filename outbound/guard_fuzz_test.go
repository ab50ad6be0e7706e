package outbound_test

import (
	"context"
	"net/netip"
	"net/url"
	"testing"

	"github.com/paylinks/paylinks/outbound"
)

// FuzzCheckURL: any string is checked without a panic, and in production
// no address is accepted whose host is an IP literal on loopback, a
// private, link-local or otherwise internal range, or that is not https.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x", "https://127.0.0.1/", "https://[::1]:8443/", "https://[::ffff:10.0.0.1]/",
		"https://0x7f000001/", "https://169.254.169.254/latest", "http://93.184.216.34/", "https://93.184.216.34/", "https://u:p@h/",
		"https://[fe80::1%25eth0]/", "https://100.64.0.1/", "//evil", "https://2130706433/", "HTTPS://127.0.0.1/"} {
		f.Add(s)
	}
	g := &outbound.Guard{Resolver: newNames(map[string]string{"hooks.example.com": "93.184.216.34"})}
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(context.Background(), raw)
		if err != nil {
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.Scheme != "https" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
				t.Fatalf("accepted %q, an internal address", raw)
			}
		}
	})
}
