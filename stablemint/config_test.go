package stablemint_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/stablemint"
)

// keyFiles writes the public halves of the webhook test keys, in both PEM
// encodings, and returns their paths with the partner key's.
type keyFiles struct {
	partner, webhookPKIX, webhookPKCS1, weakPublic, weakPrivate, private2 string
}

func writeKeyFiles(t *testing.T) keyFiles {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
		return p
	}
	wh := testKey(t, webhookKeyFile)
	rot := testKey(t, webhookRotatedKeyFile)
	pkix, err := x509.MarshalPKIXPublicKey(&wh.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := parsePKCS1File(t, weakKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	weakPub, _ := x509.MarshalPKIXPublicKey(&weak.PublicKey)
	return keyFiles{
		partner:      filepath.Join("testdata", partnerKeyFile),
		webhookPKIX:  write("wh.pem", "PUBLIC KEY", pkix),
		webhookPKCS1: write("rot.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rot.PublicKey)),
		weakPublic:   write("weak.pub.pem", "PUBLIC KEY", weakPub),
		weakPrivate:  filepath.Join("testdata", weakKeyFile),
		private2:     filepath.Join("testdata", webhookKeyFile),
	}
}

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	kf := writeKeyFiles(t)
	base := map[string]string{
		"STABLEMINT_BASE_URL":                "https://paymentinitiationservice-rest.stablemint.net",
		"STABLEMINT_API_KEY":                 "key-1",
		"STABLEMINT_API_SECRET":              "super-secret-value",
		"STABLEMINT_PRIVATE_KEY_FILE":        kf.partner,
		"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX + ", " + kf.webhookPKCS1,
	}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := stablemint.LoadConfig(envFrom(base))
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if cfg.Scheme != stablemint.SchemeV1 || len(cfg.WebhookKeys) != 2 || cfg.PrivateKey == nil {
			t.Errorf("scheme %s, %d webhook keys, private key %v", cfg.Scheme, len(cfg.WebhookKeys), cfg.PrivateKey != nil)
		}
		if got, want := cfg.CheckoutHosts, []string{"paymentinitiationservice-rest.stablemint.net", "checkout.stablemint.net"}; !slices.Equal(got, want) {
			t.Errorf("CheckoutHosts = %v, want %v", got, want)
		}
		if cfg.MinAmount.String() != "0.1" || cfg.MaxAmount.String() != "10" {
			t.Errorf("limits = %s..%s, want 0.1..10", cfg.MinAmount, cfg.MaxAmount)
		}
		if cfg.WebhookTolerancePast != 4*time.Hour || cfg.WebhookToleranceFuture != 5*time.Minute {
			t.Errorf("tolerances = %s/%s, want 4h/5m", cfg.WebhookTolerancePast, cfg.WebhookToleranceFuture)
		}
		if _, err := stablemint.New(cfg); err != nil {
			t.Errorf("New(LoadConfig()) = %v", err)
		}
		if _, err := cfg.Verifier(); err != nil {
			t.Errorf("Verifier() = %v", err)
		}
	})
	t.Run("everything set", func(t *testing.T) {
		env := clone(base)
		env["STABLEMINT_AUTH_SCHEME"] = "v2"
		env["STABLEMINT_CHECKOUT_HOSTS"] = " Pay.Example , 127.0.0.1:9090"
		env["STABLEMINT_MIN_AMOUNT"] = "1"
		env["STABLEMINT_MAX_AMOUNT"] = "5000.00"
		env["STABLEMINT_WEBHOOK_TOLERANCE_PAST"] = "6h"
		env["STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"] = "1m"
		cfg, err := stablemint.LoadConfig(envFrom(env))
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if cfg.Scheme != stablemint.SchemeV2 || !slices.Equal(cfg.CheckoutHosts, []string{"pay.example", "127.0.0.1:9090"}) ||
			cfg.MinAmount.String() != "1" || cfg.MaxAmount.String() != "5000.00" ||
			cfg.WebhookTolerancePast != 6*time.Hour || cfg.WebhookToleranceFuture != time.Minute {
			t.Errorf("config = %v", cfg)
		}
	})

	tests := []struct {
		name string
		set  map[string]string
		vars []string // variables the error must name
	}{
		{"base url missing", map[string]string{"STABLEMINT_BASE_URL": ""}, []string{"STABLEMINT_BASE_URL"}},
		{"base url plain http", map[string]string{"STABLEMINT_BASE_URL": "http://stablemint.example"}, []string{"STABLEMINT_BASE_URL"}},
		{"api key missing", map[string]string{"STABLEMINT_API_KEY": " "}, []string{"STABLEMINT_API_KEY"}},
		{"secret missing", map[string]string{"STABLEMINT_API_SECRET": ""}, []string{"STABLEMINT_API_SECRET"}},
		{"private key file missing", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": ""}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"private key file unreadable", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"private key is a public key", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": kf.webhookPKIX}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"private key too weak", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": kf.weakPrivate}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"webhook keys missing", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": ""}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"webhook key is private", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.private2}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"webhook key too weak", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX + "," + kf.weakPublic}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"webhook key list with empty entry", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX + ",,"}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"unknown scheme", map[string]string{"STABLEMINT_AUTH_SCHEME": "v3"}, []string{"STABLEMINT_AUTH_SCHEME"}},
		{"bad checkout host", map[string]string{"STABLEMINT_CHECKOUT_HOSTS": "https://pay.example/"}, []string{"STABLEMINT_CHECKOUT_HOSTS"}},
		{"bad min amount", map[string]string{"STABLEMINT_MIN_AMOUNT": "0,1"}, []string{"STABLEMINT_MIN_AMOUNT"}},
		{"zero min amount", map[string]string{"STABLEMINT_MIN_AMOUNT": "0"}, []string{"STABLEMINT_MIN_AMOUNT"}},
		{"max below min", map[string]string{"STABLEMINT_MAX_AMOUNT": "0.05"}, []string{"STABLEMINT_MAX_AMOUNT"}},
		{"bad tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST": "4 hours"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST"}},
		{"zero past tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST": "0s"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST"}},
		{"zero future tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE": "0s"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"}},
		{"huge future tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE": "1000h"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"}},
		{"several problems at once", map[string]string{"STABLEMINT_API_KEY": "", "STABLEMINT_AUTH_SCHEME": "x"},
			[]string{"STABLEMINT_API_KEY", "STABLEMINT_AUTH_SCHEME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := clone(base)
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := stablemint.LoadConfig(envFrom(env))
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.vars) {
				t.Errorf("error has %d lines, want %d:\n%v", len(lines), len(tt.vars), err)
			}
			for i, v := range tt.vars {
				if i < len(lines) && !strings.HasPrefix(lines[i], v+": ") {
					t.Errorf("line %d = %q, want it to start with %s", i, lines[i], v)
				}
			}
			if strings.Contains(err.Error(), "super-secret-value") || strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestEnvVarsMatchLoadConfig(t *testing.T) {
	vars := stablemint.EnvVars()
	read := map[string]bool{}
	kf := writeKeyFiles(t)
	env := map[string]string{
		"STABLEMINT_BASE_URL": "https://x.example", "STABLEMINT_API_KEY": "k", "STABLEMINT_API_SECRET": "s",
		"STABLEMINT_PRIVATE_KEY_FILE": kf.partner, "STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX,
	}
	if _, err := stablemint.LoadConfig(func(k string) string { read[k] = true; return env[k] }); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, v := range vars {
		documented = append(documented, v.Name)
		if v.Description == "" || (v.Required && v.Default != "") {
			t.Errorf("bad EnvVar %+v", v)
		}
		if !read[v.Name] {
			t.Errorf("%s is documented but LoadConfig does not read it", v.Name)
		}
	}
	for k := range read {
		if !slices.Contains(documented, k) {
			t.Errorf("LoadConfig reads undocumented %s", k)
		}
	}
	for _, v := range vars {
		if v.Default == "" {
			continue
		}
		// The documented default must be what LoadConfig applies.
		withDefault, _ := stablemint.LoadConfig(envFrom(env))
		explicit := clone(env)
		explicit[v.Name] = v.Default
		withExplicit, err := stablemint.LoadConfig(envFrom(explicit))
		if err != nil || withDefault.String() != withExplicit.String() ||
			withDefault.WebhookTolerancePast != withExplicit.WebhookTolerancePast ||
			withDefault.WebhookToleranceFuture != withExplicit.WebhookToleranceFuture {
			t.Errorf("%s: documented default %q differs from the applied one (%v)", v.Name, v.Default, err)
		}
	}
}

func TestParsePEMKeys(t *testing.T) {
	kf := writeKeyFiles(t)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := stablemint.ParseRSAPrivateKeyPEM(read(kf.partner)); err != nil {
		t.Errorf("PKCS#8 private key: %v", err)
	}
	if _, err := stablemint.ParseRSAPrivateKeyPEM(read(kf.private2)); err != nil {
		t.Errorf("PKCS#1 private key: %v", err)
	}
	if _, err := stablemint.ParseRSAPublicKeyPEM(read(kf.webhookPKIX)); err != nil {
		t.Errorf("PKIX public key: %v", err)
	}
	if _, err := stablemint.ParseRSAPublicKeyPEM(read(kf.webhookPKCS1)); err != nil {
		t.Errorf("PKCS#1 public key: %v", err)
	}
	two := append(read(kf.webhookPKIX), read(kf.webhookPKCS1)...)
	bad := []struct {
		name string
		err  error
	}{
		{"no PEM", func() error { _, err := stablemint.ParseRSAPublicKeyPEM([]byte("hello")); return err }()},
		{"two blocks", func() error { _, err := stablemint.ParseRSAPublicKeyPEM(two); return err }()},
		{"weak private", func() error { _, err := stablemint.ParseRSAPrivateKeyPEM(read(kf.weakPrivate)); return err }()},
		{"weak public", func() error { _, err := stablemint.ParseRSAPublicKeyPEM(read(kf.weakPublic)); return err }()},
		{"private as public", func() error { _, err := stablemint.ParseRSAPublicKeyPEM(read(kf.private2)); return err }()},
		{"encrypted", func() error {
			_, err := stablemint.ParseRSAPrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}))
			return err
		}()},
		{"garbage DER", func() error {
			_, err := stablemint.ParseRSAPrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
			return err
		}()},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Error("parsed, want an error")
			}
		})
	}
}
