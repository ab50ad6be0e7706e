package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/sandbox"
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

// startSandboxCommand runs `paylinks sandbox` (scheme v2) with extra flags
// and returns its base URL and what it wrote to stderr; it stops at cleanup.
func startSandboxCommand(t *testing.T, extra ...string) (base string, stderr *syncBuffer) {
	t.Helper()
	partnerDER, err := x509.MarshalPKIXPublicKey(&testRSAKeys().partner.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	partnerPEM := writePEM(t, "partner.pem", "PUBLIC KEY", partnerDER)
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	var runErr error
	done := make(chan struct{}) // closed when run returns; runErr is then set
	go func() {
		defer close(done)
		runErr = run(ctx, append([]string{"paylinks", "sandbox", "--addr", "127.0.0.1:0", "--api-key", "k",
			"--api-secret", "s", "--partner-public-key", partnerPEM, "--scheme", "v2"}, extra...),
			envFrom(nil), nil, stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("sandbox did not return after cancel")
		}
	})
	listenRE := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for !listenRE.MatchString(stdout.String()) {
		select {
		case <-done:
			t.Fatalf("sandbox exited early: %v\n%s", runErr, stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start banner:\n%s", stdout.String())
		}
	}
	return listenRE.FindStringSubmatch(stdout.String())[1], stderr
}

// postSignedV2 posts body to the sandbox's create endpoint, signed with
// scheme v2 as the partner "k"/"s".
func postSignedV2(t *testing.T, base string, body []byte) (*http.Response, []byte) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256([]byte(ts + ",s," + string(body)))
	sig, err := rsa.SignPKCS1v15(nil, testRSAKeys().partner, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/session/hosted", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ApiKey", "k")
	req.Header.Set("Timestamp", ts)
	req.Header.Set("Signature", base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// `paylinks sandbox` accepts what StableMint's document allows (here the
// document's own "customFields": {}); with --strict it keeps paylinks'
// stricter conventions and says that the refusal is the sandbox's.
func TestSandboxCommandStrict(t *testing.T) {
	body := []byte(`{"userId":"C1","userEmail":"ada@example.com","userCountryCode":"DE","currency":"EUR","amount":5.00,` +
		`"successUrl":"https://shop.example/s","supportUrl":"https://shop.example/h","exitUrl":"https://shop.example/e",` +
		`"errorUrl":"https://shop.example/r","customFields":{}}`)
	t.Run("default", func(t *testing.T) {
		base, _ := startSandboxCommand(t)
		if resp, b := postSignedV2(t, base, body); resp.StatusCode != http.StatusOK {
			t.Errorf("customFields {}: got %d %s, want 200", resp.StatusCode, b)
		}
	})
	t.Run("--strict", func(t *testing.T) {
		base, _ := startSandboxCommand(t, "--strict")
		resp, b := postSignedV2(t, base, body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Sandbox-Refusal") != "strict" ||
			!strings.Contains(string(b), `"field":"customFields"`) {
			t.Errorf("customFields {}: got %d (X-Sandbox-Refusal %q) %s, want 400 naming customFields, marked strict",
				resp.StatusCode, resp.Header.Get("X-Sandbox-Refusal"), b)
		}
	})
}

// With --verbose every log line names its component once.
func TestSandboxCommandLogsComponentOnce(t *testing.T) {
	base, stderr := startSandboxCommand(t, "--verbose")
	body := []byte(`{"userId":"C1","userEmail":"ada@example.com","userCountryCode":"DE","currency":"EUR","amount":5.00,` +
		`"successUrl":"https://shop.example/s","supportUrl":"https://shop.example/h","exitUrl":"https://shop.example/e",` +
		`"errorUrl":"https://shop.example/r"}`)
	if resp, b := postSignedV2(t, base, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("create: got %d %s", resp.StatusCode, b)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < 2 { // listening, session created
		t.Fatalf("stderr has %d lines, want at least 2:\n%s", len(lines), stderr.String())
	}
	for _, l := range lines {
		if n := strings.Count(l, "component="); n != 1 || !strings.Contains(l, "component="+sandbox.LogComponent+" ") {
			t.Errorf("log line names component %d times, want once as %s: %s", n, sandbox.LogComponent, l)
		}
	}
}

// componentRecorder is a slog.Handler that keeps, for each record, the values
// of its "component" attributes, those added by With included.
type componentRecorder struct {
	mu      *sync.Mutex
	records *[][]string
	with    []string
}

func (h *componentRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *componentRecorder) Handle(_ context.Context, r slog.Record) error {
	got := append([]string(nil), h.with...)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			got = append(got, a.Value.String())
		}
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, got)
	h.mu.Unlock()
	return nil
}

func (h *componentRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.with = append([]string(nil), h.with...)
	for _, a := range as {
		if a.Key == "component" {
			c.with = append(c.with, a.Value.String())
		}
	}
	return &c
}

func (h *componentRecorder) WithGroup(string) slog.Handler { return h }

// In demo mode the built-in sandbox's records carry "component" once
// (issue #16: provider.go named it and the sandbox named itself again).
func TestDemoSandboxLogsComponentOnce(t *testing.T) {
	rec := &componentRecorder{mu: &sync.Mutex{}, records: new([][]string)}
	p, err := openProvider(nil, t.TempDir(), "", slog.New(rec), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var fromSandbox int
	for i, components := range *rec.records {
		if slices.Contains(components, sandbox.LogComponent) {
			fromSandbox++
		}
		if len(components) > 1 {
			t.Errorf("record %d names its component %d times: %v", i, len(components), components)
		}
	}
	if fromSandbox == 0 {
		t.Errorf("no record names the sandbox (%s): %v", sandbox.LogComponent, *rec.records)
	}
}
