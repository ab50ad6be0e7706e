package stablemint

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Webhook signature headers, spelled as StableMint's documents spell them
// rather than in Go's canonical form ("Stablemint-Timestamp"): they read
// as the documents do in logs and code, and http.Header's Get and Set
// canonicalise the key either way.
const (
	HeaderWebhookTimestamp = "StableMint-Timestamp"
	HeaderWebhookSignature = "StableMint-Signature"
)

// Reasons a webhook is refused, as VerifyError.Reason. Short, stable and
// free of request content, so they can be logged and stored as they are.
const (
	ReasonMissingSignature   = "missing signature"
	ReasonDuplicateSignature = "duplicate signature header"
	ReasonEmptySignature     = "empty signature"
	ReasonMalformedSignature = "signature not strict base64"
	ReasonMissingTimestamp   = "missing timestamp"
	ReasonDuplicateTimestamp = "duplicate timestamp header"
	ReasonMalformedTimestamp = "malformed timestamp"
	ReasonBadSignature       = "bad signature"
	ReasonOutsideTolerance   = "timestamp outside tolerance"
)

// Bounds on what Verify will look at; anything longer is malformed.
const (
	maxSignatureHeader = 1368 // Base64 of 1024 bytes: an 8192-bit signature
	maxTimestampHeader = 40
	maxTolerance       = 7 * 24 * time.Hour
)

// VerifyError is a refused webhook. Reason is one of the Reason* constants.
type VerifyError struct {
	Reason string
}

// Error says why the webhook was refused.
func (e *VerifyError) Error() string { return "StableMint webhook refused: " + e.Reason + "." }

// Verifier checks StableMint webhook signatures. It is safe for concurrent
// use.
type Verifier struct {
	keys   []*rsa.PublicKey
	past   time.Duration
	future time.Duration
	now    func() time.Time
}

// NewVerifier returns a Verifier accepting a signature from any of keys
// (several for rotation; each at least 2048 bits) and a timestamp no more
// than past before and future after now() (nil now means time.Now). past
// must be positive and both at most 7 days: the window cannot be disabled.
func NewVerifier(keys []*rsa.PublicKey, past, future time.Duration, now func() time.Time) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("stablemint: no webhook public key")
	}
	for i, k := range keys {
		if err := checkPublicKey(k); err != nil {
			return nil, fmt.Errorf("stablemint: webhook key %d: %w", i+1, err)
		}
	}
	if past <= 0 || past > maxTolerance || future < 0 || future > maxTolerance {
		return nil, fmt.Errorf("stablemint: webhook tolerance must be above 0 in the past, at least 0 in the future, and at most %s each", maxTolerance)
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: append([]*rsa.PublicKey(nil), keys...), past: past, future: future, now: now}, nil
}

func checkPublicKey(k *rsa.PublicKey) error {
	switch {
	case k == nil || k.N == nil:
		return errors.New("missing RSA public key")
	case k.N.BitLen() < minRSABits:
		return fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
	case k.E < 3 || k.E%2 == 0:
		return errors.New("RSA key has an invalid public exponent")
	}
	return nil
}

// Verify checks a webhook's StableMint-Signature over
// "<StableMint-Timestamp>,<rawBody>" before anything else looks at the body.
// Each header must appear exactly once. The signature must be strict
// standard Base64 (no whitespace, URL alphabet, missing or extra padding,
// trailing data). The timestamp may be RFC 3339 with or without a zone
// (none is UTC) and with a fraction ("2026-11-25T10:00:00Z",
// "2026-11-25T10:00:00.5"), or Unix seconds or, above 1e12, milliseconds
// ("1795600800", "1795600800000"); the signature covers its exact text, so
// it is read only to place the delivery in time. The signature is checked
// before the time window, so ReasonOutsideTolerance means an authentic but
// late (or early) delivery. The error is a *VerifyError.
func (v *Verifier) Verify(h http.Header, rawBody []byte) error {
	sigHeader, err := singleHeader(h, HeaderWebhookSignature, ReasonMissingSignature, ReasonDuplicateSignature)
	if err != nil {
		return err
	}
	tsHeader, err := singleHeader(h, HeaderWebhookTimestamp, ReasonMissingTimestamp, ReasonDuplicateTimestamp)
	if err != nil {
		return err
	}
	if sigHeader == "" {
		return &VerifyError{Reason: ReasonEmptySignature}
	}
	sig, err := decodeSignature(sigHeader)
	if err != nil {
		return &VerifyError{Reason: ReasonMalformedSignature}
	}
	ts, err := parseWebhookTimestamp(tsHeader)
	if err != nil {
		return &VerifyError{Reason: ReasonMalformedTimestamp}
	}
	if !v.signatureValid(tsHeader, rawBody, sig) {
		return &VerifyError{Reason: ReasonBadSignature}
	}
	now := v.now()
	if ts.Before(now.Add(-v.past)) || ts.After(now.Add(v.future)) {
		return &VerifyError{Reason: ReasonOutsideTolerance}
	}
	return nil
}

// signatureValid reports whether any key signed "<ts>,<body>".
func (v *Verifier) signatureValid(ts string, body, sig []byte) bool {
	digest := webhookDigest(ts, body)
	for _, k := range v.keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil {
			return true
		}
	}
	return false
}

func webhookDigest(ts string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write([]byte{','})
	h.Write(body)
	return h.Sum(nil)
}

// singleHeader returns the only value of name, matching the key
// case-insensitively so that hand-built, non-canonical maps are read too;
// none or several values are refused.
func singleHeader(h http.Header, name, missing, duplicate string) (string, error) {
	var values []string
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			values = append(values, vs...)
		}
	}
	switch len(values) {
	case 0:
		return "", &VerifyError{Reason: missing}
	case 1:
		return values[0], nil
	}
	return "", &VerifyError{Reason: duplicate}
}

// decodeSignature decodes strict, canonical standard Base64: only the
// standard alphabet, correct '=' padding, zero padding bits, nothing else
// (encoding/base64 alone would skip '\r' and '\n').
func decodeSignature(s string) ([]byte, error) {
	if s == "" || len(s) > maxSignatureHeader || len(s)%4 != 0 {
		return nil, errors.New("bad length")
	}
	body := strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
	for i := 0; i < len(body); i++ {
		if !isBase64Std(body[i]) {
			return nil, errors.New("not standard base64")
		}
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

func isBase64Std(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// parseWebhookTimestamp reads the StableMint-Timestamp header, at most 40
// bytes: an ISO 8601 / RFC 3339 date and time with or without a zone (none
// is UTC; fractions allowed), or Unix seconds or, above 1e12, milliseconds
// (parseTimeText has the exact grammar).
func parseWebhookTimestamp(s string) (time.Time, error) {
	if len(s) > maxTimestampHeader {
		return time.Time{}, errors.New("too long")
	}
	return parseTimeText(s)
}

// FormatWebhookTimestamp formats t as StableMint writes
// StableMint-Timestamp: RFC 3339 in UTC, whole seconds.
func FormatWebhookTimestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// SignWebhook returns the StableMint-Signature value for ts and body, as
// StableMint computes it. For tests and tools of this package's users; the
// sandbox keeps its own implementation.
func SignWebhook(key *rsa.PrivateKey, ts string, body []byte) (string, error) {
	b := make([]byte, 0, len(ts)+1+len(body))
	b = append(append(append(b, ts...), ','), body...)
	return signBase64(key, b)
}
