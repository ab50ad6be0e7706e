package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/stablemint"
)

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// `paylinks sandbox` serves with the keys and settings its flags name until
// cancelled; the StableMint client mints a session against it.
func TestSandboxCommandServesUntilCancelled(t *testing.T) {
	keys := testRSAKeys()
	partnerPEM := writePEM(t, "partner.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&keys.partner.PublicKey))
	der, err := x509.MarshalPKCS8PrivateKey(keys.webhook)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := writePEM(t, "sandbox.pem", "PRIVATE KEY", der)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"paylinks", "sandbox",
			"--addr", "127.0.0.1:0", "--api-key", "sandbox-key", "--api-secret", "sandbox-secret",
			"--partner-public-key", partnerPEM, "--key", keyPEM, "--scheme", "v2",
			"--family", "partner", "--time-scale", "0.001", "--session-ttl", "2h",
		}, envFrom(nil), nil, stdout, io.Discard)
	}()
	listenRE := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for !listenRE.MatchString(stdout.String()) {
		select {
		case err := <-done:
			t.Fatalf("sandbox exited early: %v\n%s", err, stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start banner:\n%s", stdout.String())
		}
	}
	base := listenRE.FindStringSubmatch(stdout.String())[1]
	if !strings.Contains(stdout.String(), base+"/_sandbox/public-key.pem") {
		t.Errorf("banner does not name the public key URL:\n%s", stdout.String())
	}

	resp, err := http.Get(base + "/_sandbox/public-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pubDER, _ := x509.MarshalPKIXPublicKey(&keys.webhook.PublicKey)
	if want := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}); !bytes.Equal(got, want) {
		t.Errorf("served public key is not the --key file's")
	}

	u, _ := url.Parse(base)
	client, err := stablemint.New(stablemint.Config{BaseURL: base, APIKey: "sandbox-key", APISecret: "sandbox-secret",
		PrivateKey: keys.partner, Scheme: stablemint.SchemeV2, CheckoutHosts: []string{u.Host}})
	if err != nil {
		t.Fatal(err)
	}
	amount, err := stablemint.ParseAmount("5.00", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.CreateHostedSession(ctx, stablemint.Request{UserID: "C1", UserEmail: "ada@example.com", UserCountryCode: "DE",
		Currency: "EUR", Amount: amount, SuccessURL: "https://shop.example/s", SupportURL: "https://shop.example/h",
		ExitURL: "https://shop.example/e", ErrorURL: "https://shop.example/r", IdempotencyKey: "k-1"})
	if err != nil {
		t.Fatalf("v2 create: %v", err)
	}
	if !strings.HasPrefix(s.URL, base+"/checkout/") {
		t.Errorf("checkout URL %s, want it under %s", s.URL, base)
	}
	if exp := time.Now().Add(2 * time.Hour); s.ExpiresAt.Before(exp.Add(-5*time.Second)) || s.ExpiresAt.After(exp.Add(5*time.Second)) {
		t.Errorf("expires at %s, want about %s (--session-ttl 2h)", s.ExpiresAt, exp)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sandbox: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox did not return after cancel")
	}
}

func TestSandboxCommandRejectsBadFlags(t *testing.T) {
	partnerDER, err := x509.MarshalPKIXPublicKey(&testRSAKeys().partner.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	partnerPEM := writePEM(t, "partner.pem", "PUBLIC KEY", partnerDER)
	sandbox := func(stderr io.Writer, args ...string) error {
		return run(context.Background(), append([]string{"paylinks", "sandbox"}, args...), envFrom(nil), nil, io.Discard, stderr)
	}
	base := []string{"--addr", "127.0.0.1:0", "--api-key", "k", "--api-secret", "s", "--partner-public-key", partnerPEM}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--colour", "red"}, "colour"},
		{"bad scheme", []string{"--scheme", "v3"}, "--scheme"},
		{"bad family", []string{"--family", "modern"}, "--family"},
		{"time scale not a number", []string{"--time-scale", "fast"}, "time-scale"},
		{"time scale zero", []string{"--time-scale", "0"}, "--time-scale"},
		{"session ttl not a duration", []string{"--session-ttl", "1 day"}, "session-ttl"},
		{"webhook url relative", []string{"--webhook-url", "/hooks"}, "--webhook-url"},
		{"public url relative", []string{"--public-url", "pay.example"}, "--public-url"},
		{"missing partner key file", []string{"--partner-public-key", filepath.Join(t.TempDir(), "none.pem")}, "--partner-public-key"},
		{"key file not PEM", []string{"--key", partnerPEM}, "--key"},
		{"positional argument", []string{"extra"}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sandbox(io.Discard, append(append([]string{}, base...), tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("sandbox = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	t.Run("required flags", func(t *testing.T) {
		err := sandbox(io.Discard)
		for _, f := range []string{"--api-key", "--api-secret", "--partner-public-key"} {
			if err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("sandbox without flags = %v, want it to name %s", err, f)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		var errOut bytes.Buffer
		if err := sandbox(&errOut, "-h"); err != nil {
			t.Errorf("-h: %v", err)
		}
		if !strings.Contains(errOut.String(), "Usage: paylinks sandbox [flags]") || !strings.Contains(errOut.String(), "-partner-public-key") {
			t.Errorf("usage does not list flags:\n%s", errOut.String())
		}
	})
}
