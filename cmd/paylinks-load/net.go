package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// checkLoopbackAddr accepts host:port whose host is a loopback IP literal
// (127.0.0.0/8 or ::1). Names are refused: what they resolve to can change.
func checkLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback IP address; the load test only targets this machine", host)
	}
	return nil
}

// noSource lets the kernel pick the source address.
var noSource netip.Addr

var errNotLoopback = errors.New("refusing to connect to a non-loopback address")

// loopbackTransport is an HTTP transport that can only reach loopback,
// optionally from a given local (loopback) source address, with enough idle
// connections for conns concurrent clients.
func loopbackTransport(source netip.Addr, conns int) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice()}
	}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := checkLoopbackAddr(addr); err != nil {
				return nil, fmt.Errorf("%w: %v", errNotLoopback, err)
			}
			return d.DialContext(ctx, network, addr)
		},
		Proxy:                 nil, // never a proxy, whatever the environment says
		MaxIdleConns:          conns + 10,
		MaxIdleConnsPerHost:   conns + 10,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true, // pages are not gzipped (BREACH); keep it so
	}
}

// webhookSources is n loopback source addresses: 127.0.0.2, 127.0.0.3, …
// (Linux routes all of 127.0.0.0/8 to lo). One source is 127.0.0.1.
func webhookSources(n int) []netip.Addr {
	if n <= 1 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
	}
	return out
}
