package stablemint_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
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

// The per-value checks the paylinks command names its variables with.
func TestPerValueChecks(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://paymentinitiationservice-rest.stablemint.io": true,
		"http://127.0.0.1:9090":                               true,
		"http://stablemint.example":                           false,
		"https://user@stablemint.example":                     false,
		"":                                                    false,
	} {
		if err := stablemint.CheckBaseURL(s); (err == nil) != ok {
			t.Errorf("CheckBaseURL(%q) = %v", s, err)
		}
	}
	for s, ok := range map[string]bool{"key-1": true, "": false, " key": false, "a\nb": false} {
		err := stablemint.CheckCredential(s)
		if (err == nil) != ok || (err != nil && s != "" && strings.Contains(err.Error(), s)) {
			t.Errorf("CheckCredential(%q) = %v", s, err)
		}
	}
	if h, err := stablemint.NormaliseCheckoutHost(" Pay.Example:8443 "); err != nil || h != "pay.example:8443" {
		t.Errorf("NormaliseCheckoutHost = %q, %v", h, err)
	}
	if _, err := stablemint.NormaliseCheckoutHost("https://pay.example/"); err == nil {
		t.Error("NormaliseCheckoutHost accepted a URL")
	}
	if h, err := stablemint.NormaliseCheckoutHost(" *.Pay.Example "); err != nil || h != "*.pay.example" {
		t.Errorf("NormaliseCheckoutHost(wildcard) = %q, %v", h, err)
	}
	for _, bad := range []string{"*", "*.", "*.io", "*.pay.example:443", "a.*.pay.example", "*.*.pay.example", "*pay.example", "*.-x.example"} {
		if _, err := stablemint.NormaliseCheckoutHost(bad); err == nil {
			t.Errorf("NormaliseCheckoutHost(%q) accepted", bad)
		}
	}
	if stablemint.MaxWebhookTolerance != 168*time.Hour {
		t.Errorf("MaxWebhookTolerance = %s", stablemint.MaxWebhookTolerance)
	}
}
