package stablemint_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/paylinks/paylinks/stablemint"
)

// Golden vectors: the partner test key, fixedNow (2026-11-25T10:00:00Z),
// API secret "test-secret", user "user-42" and goldenBody. The signatures
// were produced independently with
//
//	printf '%s' "$BASE" | openssl dgst -sha256 -sign testdata/TEST-ONLY-partner-key.pem | base64 -w0
const (
	goldenSecret   = "test-secret"
	goldenV1TS     = "1795600800000"
	goldenV1Base   = "1795600800000,test-secret,user-42"
	goldenV1Sig    = "OJ+U0Q3kgnbUKgjcp/8dF6OYL1fOWJw6srWZzFda+L0y5Q4ttngQ9ZR8UJbSJZCh0vyR3W4QyhUeW1LfYgKAiiPRRnb3ZZKfHO3emDblmPSnNghaGzPj8X3o+w+JOneVntqB7Iu26Z79Ecev+/lhZ0+9me7NMb+uqLcpv3Rmz+CE814JEXVNsPdSDtsVk/EtqqPRPrXOaaMlMIHQ9jJCKiycoTB1eyuwfzQ8fSGVreVXuL67aJPzjr7zsiLV+CYMnieBHGDWAu7PbxraT3faqDiyYZsw1l1cQPxBxp9wMCX9RbYPuYchlCZJkfTyiMfeNS3u4IH1agrdL34rL/9aYg=="
	goldenV2TS     = "1795600800"
	goldenV2Prefix = "1795600800,test-secret,"
	goldenV2Sig    = "kGmy6wySHRwHunWwLL+dhKadBXMaXOtyoU/z+kEDDQo/gF3yKao7hvQXu4tl7W7V5QhH+vXSK8xAWptEBMNbeE1cRPFi+s23LQgTLggghCfGiAIRkrt0WGwVJvxMCK+J65RTFFGTpeSe/PucPxBg6E0cfJONKZFlUHwiT15D++myIGWg3iz8XpdsBk4QkEZBdoc11vn4F23pTbe7rgTfmhvYab2qqMTmWl8OyE0aXP3owDizNzEmgkgK76/uaVYjPtVvjg7T+bj9ktgOIgwrXrGCUd15tx7P+UFFG7kUzx4+vE977a1vm1J3GwOCJX4SLdJhyB4nlOaucuo6OKfYcg=="
)

func TestSigningGolden(t *testing.T) {
	key := testKey(t, partnerKeyFile)
	body := []byte(goldenBody)

	t.Run("timestamps", func(t *testing.T) {
		if got := stablemint.V1Timestamp(fixedNow); got != goldenV1TS {
			t.Errorf("V1Timestamp = %q, want %q", got, goldenV1TS)
		}
		if got := stablemint.V2Timestamp(fixedNow); got != goldenV2TS {
			t.Errorf("V2Timestamp = %q, want %q", got, goldenV2TS)
		}
	})
	t.Run("v1 base string", func(t *testing.T) {
		if got := string(stablemint.V1BaseString(goldenV1TS, goldenSecret, "user-42")); got != goldenV1Base {
			t.Errorf("V1BaseString = %q, want %q", got, goldenV1Base)
		}
	})
	t.Run("v2 base string", func(t *testing.T) {
		want := goldenV2Prefix + goldenBody
		if got := string(stablemint.V2BaseString(goldenV2TS, goldenSecret, body)); got != want {
			t.Errorf("V2BaseString =\n %q\nwant\n %q", got, want)
		}
	})
	t.Run("v1 signature", func(t *testing.T) {
		got, err := stablemint.SignV1(key, goldenV1TS, goldenSecret, "user-42")
		if err != nil || got != goldenV1Sig {
			t.Errorf("SignV1 = %q, %v\nwant %q", got, err, goldenV1Sig)
		}
	})
	t.Run("v2 signature", func(t *testing.T) {
		got, err := stablemint.SignV2(key, goldenV2TS, goldenSecret, body)
		if err != nil || got != goldenV2Sig {
			t.Errorf("SignV2 = %q, %v\nwant %q", got, err, goldenV2Sig)
		}
	})
}

func TestSignedHeadersGolden(t *testing.T) {
	key := testKey(t, partnerKeyFile)
	tests := []struct {
		scheme stablemint.Scheme
		want   http.Header
	}{
		{stablemint.SchemeV1, http.Header{"api_key": {"key-1"}, "timestamp": {goldenV1TS}, "signature": {goldenV1Sig}}},
		{stablemint.SchemeV2, http.Header{"ApiKey": {"key-1"}, "Timestamp": {goldenV2TS}, "Signature": {goldenV2Sig}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.scheme), func(t *testing.T) {
			got, err := stablemint.SignedHeaders(tt.scheme, key, "key-1", goldenSecret, fixedNow, "user-42", []byte(goldenBody))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("headers = %v, want exactly %v", got, tt.want)
			}
			for name, want := range tt.want {
				if g := got[name]; !slices.Equal(g, want) { // exact, non-canonical key
					t.Errorf("header %q = %q, want %q (all: %v)", name, g, want, got)
				}
			}
		})
	}
	if _, err := stablemint.SignedHeaders("v3", key, "k", "s", fixedNow, "u", nil); err == nil {
		t.Error("SignedHeaders(v3) succeeded, want an error")
	}
}

// TestSignaturesVerifyWithOpenSSL checks a v1 and a v2 signature made by
// this package with `openssl dgst -sha256 -verify`.
func TestSignaturesVerifyWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH: skipping the cross-check of v1/v2 signatures with openssl dgst -verify")
	}
	key := testKey(t, partnerKeyFile)
	dir := t.TempDir()
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "pub.pem")
	writeFile(t, pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	v1Sig, err := stablemint.SignV1(key, "1700000000123", "s3cr3t", "user-7")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"userId":"user-7","amount":0.10}`)
	v2Sig, err := stablemint.SignV2(key, "1700000000", "s3cr3t", body)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		base []byte
		sig  string
	}{
		{"v1", stablemint.V1BaseString("1700000000123", "s3cr3t", "user-7"), v1Sig},
		{"v2", stablemint.V2BaseString("1700000000", "s3cr3t", body), v2Sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(tt.sig)
			if err != nil {
				t.Fatal(err)
			}
			basePath, sigPath := filepath.Join(dir, tt.name+".txt"), filepath.Join(dir, tt.name+".sig")
			writeFile(t, basePath, tt.base)
			writeFile(t, sigPath, raw)
			out, err := exec.Command(openssl, "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, basePath).CombinedOutput()
			if err != nil {
				t.Errorf("openssl dgst -verify: %v\n%s", err, out)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSignV1(b *testing.B) {
	key := testKey(b, partnerKeyFile)
	for b.Loop() {
		if _, err := stablemint.SignV1(key, goldenV1TS, goldenSecret, "user-42"); err != nil {
			b.Fatal(err)
		}
	}
}
