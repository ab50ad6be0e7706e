package stablemint_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paylinks/paylinks/stablemint"
)

// Test key files under testdata/ (see testdata/README.md): public, worthless
// keys generated once with openssl, never configured anywhere real.
const (
	partnerKeyFile        = "TEST-ONLY-partner-key.pem"
	webhookKeyFile        = "TEST-ONLY-webhook-key.pem"
	webhookRotatedKeyFile = "TEST-ONLY-webhook-key-rotated.pem"
	weakKeyFile           = "TEST-ONLY-weak-1024-key.pem"
)

// fixedNow is the clock of every golden and window test.
var fixedNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// testKey loads a test private key from testdata.
func testKey(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	key, err := stablemint.ParseRSAPrivateKeyPEM(data)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return key
}

// mustAmount parses an amount or fails the test.
func mustAmount(tb testing.TB, s, currency string) stablemint.Amount {
	tb.Helper()
	a, err := stablemint.ParseAmount(s, currency)
	if err != nil {
		tb.Fatalf("ParseAmount(%q, %q): %v", s, currency, err)
	}
	return a
}

// mustDecimal parses a decimal or fails the test.
func mustDecimal(tb testing.TB, s string) stablemint.Decimal {
	tb.Helper()
	d, err := stablemint.ParseDecimal(s)
	if err != nil {
		tb.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

// validRequest is a complete, valid request with a fixed idempotency key.
func validRequest(tb testing.TB) stablemint.Request {
	tb.Helper()
	return stablemint.Request{
		UserID:           "user-42",
		UserEmail:        "ana@example.com",
		UserCountryCode:  "DE",
		Currency:         "EUR",
		Amount:           mustAmount(tb, "9.50", "EUR"),
		SuccessURL:       "https://shop.example/paid?a=1&b=2",
		SupportURL:       "https://shop.example/help",
		ExitURL:          "https://shop.example/exit",
		ErrorURL:         "https://shop.example/error",
		IdempotencyKey:   "6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11",
		WebsiteReference: "INV-2026-001",
	}
}

// parsePKCS1File reads a PKCS#1 PEM key without the package's size floor
// (for the deliberately weak test key).
func parsePKCS1File(tb testing.TB, name string) (*rsa.PrivateKey, error) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}
