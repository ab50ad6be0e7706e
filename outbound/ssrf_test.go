package outbound_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

// Registration refuses, in production, every address that reaches the
// internal network, however it is written; an admin's allowed host goes
// through; sandbox mode allows loopback alone.
func TestRegistrationRefusesInternalAddresses(t *testing.T) {
	ctx := context.Background()
	res := newNames(map[string]string{"hooks.example.com": "93.184.216.34", "internal.example.com": "10.1.2.3",
		"localhost": "127.0.0.1", "metadata.example.com": "169.254.169.254", "v6.example.com": "::1",
		"mapped.example.com": "::ffff:127.0.0.1", "cgnat.example.com": "100.64.0.7", "erp.internal": "10.9.9.9"})
	prod := &outbound.Guard{Resolver: res, Allowed: func(context.Context) ([]string, error) { return []string{"erp.internal"}, nil }}
	sb := &outbound.Guard{Sandbox: true, Resolver: res}
	cases := []struct {
		url        string
		prod, sbox bool // accepted
	}{
		{"https://hooks.example.com/paylinks", true, true},
		{"http://hooks.example.com/paylinks", false, false},
		{"http://127.0.0.1/hook", false, true},
		{"https://127.0.0.1/hook", false, true},
		{"https://[::1]:8443/hook", false, true},
		{"https://10.0.0.1/hook", false, false},
		{"https://192.168.1.10/hook", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://0x7f000001/", false, false},
		{"https://2130706433/", false, false},
		{"https://127.1/", false, false},
		{"https://internal.example.com/hook", false, false},
		{"https://localhost/hook", false, true},
		{"https://metadata.example.com/", false, false},
		{"https://v6.example.com/", false, true},
		{"https://mapped.example.com/", false, true},
		{"https://cgnat.example.com/", false, false},
		{"https://erp.internal/hook", true, false},
		{"https://user:pw@hooks.example.com/", false, false},
		{"ftp://hooks.example.com/", false, false},
		{"/relative", false, false},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			for _, g := range []struct {
				name string
				g    *outbound.Guard
				want bool
			}{{"production", prod, c.prod}, {"sandbox", sb, c.sbox}} {
				err := g.g.CheckURL(ctx, c.url)
				if (err == nil) != g.want {
					t.Errorf("%s: CheckURL = %v, want accepted %t", g.name, err, g.want)
				}
				if err != nil && !errors.Is(err, outbound.ErrRefused) {
					t.Errorf("%s: the refusal %v is not ErrRefused", g.name, err)
				}
			}
		})
	}
}

// At delivery, in production, the guard refuses the same addresses when
// they are already stored (or a name now resolves to one: DNS
// rebinding), and a receiver on them hears nothing.
func TestDeliveryRefusesInternalAddresses(t *testing.T) {
	f := newFixture(t, t0)
	rc := &receiver{}
	srv := httptest.NewServer(rc) // listening on 127.0.0.1: refused all the same
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	res := newNames(map[string]string{"rebind.example.com": "93.184.216.34", "localhost": "127.0.0.1"})
	prod := &outbound.Guard{Resolver: res}
	if err := prod.CheckURL(context.Background(), "https://rebind.example.com"+port+"/hook"); err != nil {
		t.Fatalf("the public name is refused at registration: %v", err)
	}
	res.set("rebind.example.com", "127.0.0.1") // now it points inside
	urls := []string{
		srv.URL, // http://127.0.0.1:port
		"https://127.0.0.1" + port + "/",
		"https://[::1]" + port + "/",
		"https://10.0.0.1" + port + "/",
		"https://169.254.169.254/latest/meta-data",
		"https://localhost" + port + "/",
		"https://rebind.example.com" + port + "/hook",
	}
	for _, u := range urls {
		f.endpoint(t, u, "link.created") // stored directly: as if registered before the rules, or rebound since
	}
	f.link(t)
	n := drain(t, f.worker(prod, outbound.Options{}))
	if n != len(urls) {
		t.Fatalf("%d attempts, want %d", n, len(urls))
	}
	if got := rc.all(); len(got) != 0 {
		t.Fatalf("the loopback receiver was reached %d times", len(got))
	}
	for _, m := range f.messages(t, db.OutboundFilter{}) {
		if !strings.Contains(m.LastError, "refused") || m.Status != db.OutboundPending || m.LastStatus != 0 {
			t.Errorf("message %d to endpoint %d: %s, %q", m.ID, m.EndpointID, m.Status, m.LastError)
		}
	}
}

// A redirect is never followed: in production to the metadata address,
// and in sandbox mode even to a receiver the guard would allow.
func TestRedirectsAreNotFollowed(t *testing.T) {
	f := newFixture(t, t0)
	target := &receiver{}
	tsrv := httptest.NewServer(target)
	defer tsrv.Close()
	for _, to := range []string{"http://169.254.169.254/latest/meta-data", tsrv.URL} {
		redir := httptest.NewTLSServer(http.RedirectHandler(to, http.StatusFound))
		defer redir.Close()
		pool := x509.NewCertPool()
		pool.AddCert(redir.Certificate())
		u, _ := url.Parse(redir.URL)
		// The redirecting receiver itself is on loopback: allowed by an admin.
		prod := &outbound.Guard{Allowed: func(context.Context) ([]string, error) { return []string{u.Hostname()}, nil }}
		ep := f.endpoint(t, redir.URL, "link.created")
		f.link(t)
		drain(t, f.worker(prod, outbound.Options{TLS: &tls.Config{RootCAs: pool}}))
		ms := f.messages(t, db.OutboundFilter{EndpointID: ep.ID})
		if len(ms) != 1 || ms[0].LastStatus != http.StatusFound || !strings.Contains(ms[0].LastError, "redirects are not followed") ||
			ms[0].Status != db.OutboundPending {
			t.Errorf("redirect to %s: %+v", to, ms)
		}
		if err := f.st.UpdateOutboundEndpoint(context.Background(), ep.ID, db.OutboundEndpointChange{URL: ep.URL, Types: ep.Types},
			db.AuditEntry{Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := target.all(); len(got) != 0 {
		t.Errorf("the redirect's target was reached %d times", len(got))
	}
}
