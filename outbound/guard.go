package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Resolver looks a host name up; *net.Resolver is one, and tests give
// their own names.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard keeps webhook deliveries off the internal network (SSRF): an
// endpoint must be https, and its host must resolve only to public
// addresses, checked when it is registered and again on every connection
// (the name is resolved for each delivery and the dialer's Control checks
// the address actually dialled). Hosts an admin allowed in the settings
// may resolve anywhere. In sandbox mode (the built-in StableMint sandbox,
// no real StableMint configured) loopback is allowed too, over http or
// https: a developer's receiver on the same machine.
type Guard struct {
	Sandbox bool
	// Allowed lists the hosts allowed to resolve to private addresses
	// (the settings' list); nil allows none.
	Allowed func(ctx context.Context) ([]string, error)
	// Resolver resolves names; nil is net.DefaultResolver.
	Resolver Resolver
}

// ErrRefused wraps every refusal of the guard.
var ErrRefused = errors.New("refused")

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// blocked are the ranges no delivery may reach (besides those netip names:
// loopback, private, link-local, multicast, unspecified).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),       // NAT64: an IPv4 address inside
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64
	netip.MustParsePrefix("2002::/16"),          // 6to4: an IPv4 address inside
	netip.MustParsePrefix("fd00:ec2::/32"),      // AWS's IPv6 metadata service (inside fc00::/7 too)
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, metadata services (IsLinkLocalUnicast too)
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata (inside CGNAT too)
}

// classify names why a delivery may not reach ip, or "" when it may.
// Loopback is reported apart: sandbox mode allows it.
func classify(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "no address"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return "reserved (" + p.String() + ")"
		}
	}
	return ""
}

func (g *Guard) allowedHost(ctx context.Context, host string) (bool, error) {
	if g.Allowed == nil {
		return false, nil
	}
	hosts, err := g.Allowed(ctx)
	if err != nil {
		return false, err
	}
	for _, h := range hosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), strings.TrimSuffix(host, ".")) {
			return true, nil
		}
	}
	return false, nil
}

// permits says why ip is out of reach, or "" when a delivery may go there.
func (g *Guard) permits(ip netip.Addr) string {
	why := classify(ip)
	if why == "loopback" && g.Sandbox {
		return ""
	}
	return why
}

// numericHost catches hosts that some resolvers read as an IPv4 address
// though they are not dotted quads (0x7f000001, 2130706433, 127.1, 0177.0.0.1).
func numericHost(host string) bool {
	if host == "" {
		return false
	}
	for _, r := range strings.ToLower(host) {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == 'x' || r == '.') {
			return false
		}
	}
	_, err := netip.ParseAddr(host)
	return err != nil && (strings.HasPrefix(strings.ToLower(host), "0x") || strings.Trim(host, "0123456789.") == "")
}

// CheckURL checks an endpoint's address when it is registered or changed:
// absolute https (http only to loopback in sandbox mode), no user info,
// and a host that resolves only to addresses a delivery may reach.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return refused("the address must be a full URL, such as https://example.com/webhooks")
	}
	if u.User != nil {
		return refused("the address must not contain a user name or password")
	}
	host := u.Hostname()
	if numericHost(host) {
		return refused("%s is not a host name or an IP address written in the usual way", host)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !g.Sandbox {
			return refused("the address must start with https://")
		}
	default:
		return refused("the address must start with https://")
	}
	allowed, err := g.allowedHost(ctx, host)
	if err != nil {
		return err
	}
	if allowed {
		return nil
	}
	ips, err := g.lookup(ctx, host)
	if err != nil {
		return refused("%s could not be resolved: %v", host, err)
	}
	for _, ip := range ips {
		why := g.permits(ip)
		if why != "" {
			return refused("%s resolves to %s, a %s address; an admin can allow the host in the settings", host, ip, why)
		}
		if u.Scheme == "http" && !ip.Unmap().IsLoopback() {
			return refused("the address must start with https:// (http is for a receiver on this machine)")
		}
	}
	return nil
}

func (g *Guard) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err == nil && len(ips) == 0 {
		err = errors.New("no addresses")
	}
	return ips, err
}

// DialContext connects for a delivery: it resolves the host now (every
// delivery), refuses it when any address is out of reach (unless the host
// is allowed), and dials the addresses through a dialer whose Control
// checks the very address being connected to.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	allowed, err := g.allowedHost(ctx, host)
	if err != nil {
		return nil, err
	}
	if numericHost(host) && !allowed {
		return nil, refused("%s is not a host name or an IP address written in the usual way", host)
	}
	ips, err := g.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	if !allowed {
		for _, ip := range ips {
			if why := g.permits(ip); why != "" {
				return nil, refused("%s resolves to %s, a %s address", host, ip, why)
			}
		}
	}
	d := net.Dialer{Control: g.control(allowed)}
	var first error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// control checks the address a socket is about to connect to.
func (g *Guard) control(allowed bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowed {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return refused("cannot read the address %s", address)
		}
		if why := g.permits(ap.Addr()); why != "" {
			return refused("%s is a %s address", ap.Addr(), why)
		}
		return nil
	}
}
