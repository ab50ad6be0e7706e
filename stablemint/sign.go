package stablemint

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Scheme is a request-signing scheme of the StableMint API.
type Scheme string

// The two documented schemes.
const (
	// SchemeV1, the hosted-session page's scheme and the default: headers
	// api_key, timestamp (Unix ms), signature over
	// "<timestamp>,<api secret>,<userId>".
	SchemeV1 Scheme = "v1"
	// SchemeV2, the newer documentation's: headers ApiKey, Timestamp (Unix
	// s), Signature over "<timestamp>,<api secret>,<raw body>".
	SchemeV2 Scheme = "v2"
)

// Request header names, spelled exactly as the documents spell them. They
// are set on requests as-is (not canonicalised), so HTTP/1.1 carries this
// exact case.
const (
	HeaderV1APIKey    = "api_key"
	HeaderV1Timestamp = "timestamp"
	HeaderV1Signature = "signature"
	HeaderV2APIKey    = "ApiKey"
	HeaderV2Timestamp = "Timestamp"
	HeaderV2Signature = "Signature"
)

// ParseScheme reads "v1" or "v2"; "" means v1.
func ParseScheme(s string) (Scheme, error) {
	switch Scheme(s) {
	case "", SchemeV1:
		return SchemeV1, nil
	case SchemeV2:
		return SchemeV2, nil
	}
	return "", fmt.Errorf("unknown signing scheme %q (want v1 or v2)", truncate(s, 16))
}

// V1Timestamp formats t as the v1 timestamp header: Unix milliseconds.
func V1Timestamp(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// V2Timestamp formats t as the v2 Timestamp header: Unix seconds.
func V2Timestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// V1BaseString is the v1 signed string: "<timestamp>,<api secret>,<userId>".
// It contains the secret: never log it.
func V1BaseString(timestamp, secret, userID string) []byte {
	return []byte(timestamp + "," + secret + "," + userID)
}

// V2BaseString is the v2 signed string:
// "<timestamp>,<api secret>,<raw body>". It contains the secret: never log
// it.
func V2BaseString(timestamp, secret string, body []byte) []byte {
	b := make([]byte, 0, len(timestamp)+len(secret)+2+len(body))
	b = append(b, timestamp...)
	b = append(b, ',')
	b = append(b, secret...)
	b = append(b, ',')
	return append(b, body...)
}

// SignV1 returns the v1 signature header value: standard Base64 of the RSA
// PKCS#1 v1.5 SHA-256 signature of V1BaseString.
func SignV1(key *rsa.PrivateKey, timestamp, secret, userID string) (string, error) {
	return signBase64(key, V1BaseString(timestamp, secret, userID))
}

// SignV2 returns the v2 Signature header value: standard Base64 of the RSA
// PKCS#1 v1.5 SHA-256 signature of V2BaseString. body must be exactly the
// bytes sent.
func SignV2(key *rsa.PrivateKey, timestamp, secret string, body []byte) (string, error) {
	return signBase64(key, V2BaseString(timestamp, secret, body))
}

// SignedHeaders returns the three authentication headers of scheme for a
// request made at now, with names in their documented case (the map keys are
// not canonicalised: copy them with direct assignment, not Header.Set).
// userID is signed by v1, body by v2.
func SignedHeaders(scheme Scheme, key *rsa.PrivateKey, apiKey, secret string, now time.Time, userID string, body []byte) (http.Header, error) {
	switch scheme {
	case SchemeV1:
		ts := V1Timestamp(now)
		sig, err := SignV1(key, ts, secret, userID)
		if err != nil {
			return nil, err
		}
		return http.Header{HeaderV1APIKey: {apiKey}, HeaderV1Timestamp: {ts}, HeaderV1Signature: {sig}}, nil
	case SchemeV2:
		ts := V2Timestamp(now)
		sig, err := SignV2(key, ts, secret, body)
		if err != nil {
			return nil, err
		}
		return http.Header{HeaderV2APIKey: {apiKey}, HeaderV2Timestamp: {ts}, HeaderV2Signature: {sig}}, nil
	}
	return nil, fmt.Errorf("unknown signing scheme %q", scheme)
}

// signBase64 signs SHA-256(msg) with RSA PKCS#1 v1.5, Base64 (standard).
func signBase64(key *rsa.PrivateKey, msg []byte) (string, error) {
	if key == nil {
		return "", errors.New("no RSA private key")
	}
	digest := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
