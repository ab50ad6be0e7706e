package stablemint_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/stablemint"
)

const webhookBody = `{"eventId":"0b6f3a4e-8f7c-4c1e-9d1a-2f4b5c6d7e8f","data":{"eventType":"partner.customer.deposit.accepted","timestamp":"2026-11-25T09:59:58Z","idempotencyKey":"6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11","amount":9.50,"currency":"EUR"}}`

const (
	past   = 4 * time.Hour
	future = 5 * time.Minute
)

func newTestVerifier(tb testing.TB, keys ...*rsa.PublicKey) *stablemint.Verifier {
	tb.Helper()
	if len(keys) == 0 {
		keys = []*rsa.PublicKey{&testKey(tb, webhookKeyFile).PublicKey}
	}
	v, err := stablemint.NewVerifier(keys, past, future, fixedClock)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func signWebhook(tb testing.TB, key *rsa.PrivateKey, ts string, body []byte) string {
	tb.Helper()
	sig, err := stablemint.SignWebhook(key, ts, body)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func webhookHeaders(ts, sig string) http.Header {
	h := http.Header{}
	h.Set(stablemint.HeaderWebhookTimestamp, ts)
	h.Set(stablemint.HeaderWebhookSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	key := testKey(t, webhookKeyFile)
	other := testKey(t, webhookRotatedKeyFile)
	v := newTestVerifier(t)
	body := []byte(webhookBody)
	ts := stablemint.FormatWebhookTimestamp(fixedNow.Add(-2 * time.Second))
	sig := signWebhook(t, key, ts, body)
	raw, _ := base64.StdEncoding.DecodeString(sig)
	at := func(d time.Duration) string { return stablemint.FormatWebhookTimestamp(fixedNow.Add(d)) }
	signedAt := func(ts string) http.Header { return webhookHeaders(ts, signWebhook(t, key, ts, body)) }
	zoneless := func(d time.Duration) string { return fixedNow.Add(d).Format("2006-01-02T15:04:05") }
	unix := func(d time.Duration) string { return strconv.FormatInt(fixedNow.Add(d).Unix(), 10) }
	unixMilli := func(d time.Duration) string { return strconv.FormatInt(fixedNow.Add(d).UnixMilli(), 10) }

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   string // "" = accepted, else the VerifyError reason
	}{
		{"valid", webhookHeaders(ts, sig), body, ""},
		{"valid with offset zone", signedAt("2026-11-25T11:00:00+01:00"), body, ""},
		{"valid with fraction", signedAt("2026-11-25T09:59:59.123456Z"), body, ""},
		{"valid with empty body", webhookHeaders(ts, signWebhook(t, key, ts, nil)), nil, ""},
		// WH-2: the body changed.
		{"flipped body byte", webhookHeaders(ts, sig), flipByte(body, 20), stablemint.ReasonBadSignature},
		{"re-serialised JSON", webhookHeaders(ts, sig), reserialise(t, body), stablemint.ReasonBadSignature},
		{"trailing newline", webhookHeaders(ts, sig), append(bytes.Clone(body), '\n'), stablemint.ReasonBadSignature},
		{"body truncated", webhookHeaders(ts, sig), body[:len(body)-1], stablemint.ReasonBadSignature},
		// WH-3: the signature header is wrong.
		{"signature missing", http.Header{"Stablemint-Timestamp": {ts}}, body, stablemint.ReasonMissingSignature},
		{"signature empty", webhookHeaders(ts, ""), body, stablemint.ReasonEmptySignature},
		{"signature not base64", webhookHeaders(ts, "not base64!"), body, stablemint.ReasonMalformedSignature},
		{"signature base64 plus garbage", webhookHeaders(ts, sig+"AAAA"), body, stablemint.ReasonMalformedSignature},
		{"signature plus a valid base64 block", webhookHeaders(ts, base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 0, 0))), body, stablemint.ReasonBadSignature},
		{"signature plus trailing char", webhookHeaders(ts, sig+"x"), body, stablemint.ReasonMalformedSignature},
		{"signature with trailing newline", webhookHeaders(ts, sig+"\n"), body, stablemint.ReasonMalformedSignature},
		{"signature with embedded CRLF", webhookHeaders(ts, sig[:100]+"\r\n"+sig[100:]), body, stablemint.ReasonMalformedSignature},
		{"signature with leading space", http.Header{"Stablemint-Timestamp": {ts}, "Stablemint-Signature": {" " + sig}}, body, stablemint.ReasonMalformedSignature},
		{"signature in URL alphabet", webhookHeaders(ts, base64.URLEncoding.EncodeToString(raw)), body, stablemint.ReasonMalformedSignature},
		{"signature without padding", webhookHeaders(ts, base64.RawStdEncoding.EncodeToString(raw)), body, stablemint.ReasonMalformedSignature},
		{"signature with non-zero padding bits", webhookHeaders(ts, nonCanonical(t, sig)), body, stablemint.ReasonMalformedSignature},
		{"signature truncated", webhookHeaders(ts, sig[:len(sig)-4]), body, stablemint.ReasonBadSignature},
		{"signature too long", webhookHeaders(ts, strings.Repeat(sig, 5)), body, stablemint.ReasonMalformedSignature},
		{"signature for another body", webhookHeaders(ts, signWebhook(t, key, ts, []byte(`{}`))), body, stablemint.ReasonBadSignature},
		{"signature from another key", webhookHeaders(ts, signWebhook(t, other, ts, body)), body, stablemint.ReasonBadSignature},
		{"signature header duplicated", http.Header{"Stablemint-Timestamp": {ts}, "Stablemint-Signature": {sig, sig}}, body, stablemint.ReasonDuplicateSignature},
		{"signature header duplicated across cases", http.Header{"Stablemint-Timestamp": {ts}, "Stablemint-Signature": {sig}, "stablemint-signature": {sig}}, body, stablemint.ReasonDuplicateSignature},
		{"lower-case header names accepted", http.Header{"stablemint-timestamp": {ts}, "stablemint-signature": {sig}}, body, ""},
		// Timestamp header problems.
		{"timestamp missing", http.Header{"Stablemint-Signature": {sig}}, body, stablemint.ReasonMissingTimestamp},
		{"timestamp duplicated", http.Header{"Stablemint-Timestamp": {ts, ts}, "Stablemint-Signature": {sig}}, body, stablemint.ReasonDuplicateTimestamp},
		{"timestamp empty", signedAt(""), body, stablemint.ReasonMalformedTimestamp},
		// Every spelling the documents allow (issue #16): RFC 3339 with or
		// without a zone (none is UTC), fractions, Unix seconds or
		// milliseconds (above 1e12), the signature over the exact text.
		{"timestamp without zone is UTC", signedAt("2026-11-25T10:00:00"), body, ""},
		{"timestamp without zone, with fraction", signedAt("2026-11-25T09:59:59.5"), body, ""},
		{"timestamp without zone, 1s inside the past limit", signedAt(zoneless(-past + time.Second)), body, ""},
		{"timestamp without zone, 1s beyond the past limit", signedAt(zoneless(-past - time.Second)), body, stablemint.ReasonOutsideTolerance},
		{"timestamp without zone, 1s beyond the future limit", signedAt(zoneless(future + time.Second)), body, stablemint.ReasonOutsideTolerance},
		{"timestamp with offset without colon", signedAt("2026-11-25T11:00:00+0100"), body, ""},
		{"timestamp in lower case", signedAt("2026-11-25t10:00:00z"), body, ""},
		{"timestamp unix seconds", signedAt(unix(0)), body, ""},
		{"timestamp unix milliseconds", signedAt(unixMilli(-1500 * time.Millisecond)), body, ""},
		{"timestamp unix seconds with fraction", signedAt(unix(-time.Second) + ".25"), body, ""},
		{"timestamp unix seconds, 1s beyond the past limit", signedAt(unix(-past - time.Second)), body, stablemint.ReasonOutsideTolerance},
		{"timestamp unix milliseconds, 1ms beyond the future limit", signedAt(unixMilli(future + time.Millisecond)), body, stablemint.ReasonOutsideTolerance},
		{"timestamp unix epoch", signedAt("0"), body, stablemint.ReasonOutsideTolerance},
		{"timestamp negative unix", signedAt("-1"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp unix with plus sign", signedAt("+" + unix(0)), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp unix with leading zero", signedAt("0" + unix(0)), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp with space", signedAt("2026-11-25 10:00:00Z"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp with surrounding space", signedAt(" 2026-11-25T10:00:00Z"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp basic format", signedAt("20261125T100000Z"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp date only", signedAt("2026-11-25"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp without seconds", signedAt("2026-11-25T10:00Z"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp 20 digits", signedAt("17956008001795600800"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp month 13", signedAt("2026-13-25T10:00:00Z"), body, stablemint.ReasonMalformedTimestamp},
		{"timestamp overlong", signedAt("2026-11-25T10:00:00.000000000000000000000000000Z"), body, stablemint.ReasonMalformedTimestamp},
		// WH-4: the window, bounds inclusive.
		{"1s inside the past limit", signedAt(at(-past + time.Second)), body, ""},
		{"exactly the past limit", signedAt(at(-past)), body, ""},
		{"1s beyond the past limit", signedAt(at(-past - time.Second)), body, stablemint.ReasonOutsideTolerance},
		{"1s inside the future limit", signedAt(at(future - time.Second)), body, ""},
		{"1s beyond the future limit", signedAt(at(future + time.Second)), body, stablemint.ReasonOutsideTolerance},
		{"year 0", signedAt("0000-01-01T00:00:00Z"), body, stablemint.ReasonOutsideTolerance},
		{"year 9999", signedAt("9999-12-31T23:59:59Z"), body, stablemint.ReasonOutsideTolerance},
		{"unix epoch", signedAt("1970-01-01T00:00:00Z"), body, stablemint.ReasonOutsideTolerance},
		// WH-5: only the timestamp header changed.
		{"timestamp changed, signature kept", webhookHeaders(at(-time.Second), sig), body, stablemint.ReasonBadSignature},
		{"timestamp respelled, same instant", webhookHeaders("2026-11-25T10:59:58+01:00", sig), body, stablemint.ReasonBadSignature},
		{"timestamp respelled without zone", webhookHeaders(strings.TrimSuffix(ts, "Z"), sig), body, stablemint.ReasonBadSignature},
		{"timestamp respelled as unix seconds", webhookHeaders(unix(-2*time.Second), sig), body, stablemint.ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(tt.header, tt.body)
			if got := reason(t, err); got != tt.want {
				t.Errorf("Verify() reason = %q, want %q (error %v)", got, tt.want, err)
			}
		})
	}
}

// reason extracts the VerifyError reason; "" for nil.
func reason(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ve *stablemint.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *VerifyError", err, err)
	}
	return ve.Reason
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// reserialise decodes and re-encodes JSON: the same data, other bytes.
func reserialise(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nonCanonical sets padding bits of a "...X==" signature, which lenient
// decoders accept as the same bytes.
func nonCanonical(t *testing.T, sig string) string {
	t.Helper()
	if !strings.HasSuffix(sig, "==") {
		t.Fatalf("signature %q does not end in ==", sig)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := len(sig) - 3
	idx := strings.IndexByte(alphabet, sig[i])
	return sig[:i] + string(alphabet[idx|0x01]) + "=="
}

func TestVerifyKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(t, webhookKeyFile), testKey(t, webhookRotatedKeyFile)
	body := []byte(webhookBody)
	ts := stablemint.FormatWebhookTimestamp(fixedNow)
	both := newTestVerifier(t, &oldKey.PublicKey, &newKey.PublicKey)
	onlyNew := newTestVerifier(t, &newKey.PublicKey)
	tests := []struct {
		name   string
		v      *stablemint.Verifier
		signer *rsa.PrivateKey
		want   string
	}{
		{"old key, both configured", both, oldKey, ""},
		{"new key, both configured", both, newKey, ""},
		{"new key, only new configured", onlyNew, newKey, ""},
		{"old key after rotation", onlyNew, oldKey, stablemint.ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Verify(webhookHeaders(ts, signWebhook(t, tt.signer, ts, body)), body)
			if got := reason(t, err); got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	good := &testKey(t, webhookKeyFile).PublicKey
	weak, err := parsePKCS1File(t, weakKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		keys         []*rsa.PublicKey
		past, future time.Duration
	}{
		{"no keys", nil, past, future},
		{"nil key", []*rsa.PublicKey{good, nil}, past, future},
		{"1024-bit key", []*rsa.PublicKey{&weak.PublicKey}, past, future},
		{"zero past tolerance", []*rsa.PublicKey{good}, 0, future},
		{"negative future tolerance", []*rsa.PublicKey{good}, past, -time.Second},
		{"past tolerance over 7 days", []*rsa.PublicKey{good}, 8 * 24 * time.Hour, future},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := stablemint.NewVerifier(tt.keys, tt.past, tt.future, nil); err == nil {
				t.Error("NewVerifier succeeded, want an error")
			}
		})
	}
}

// FuzzVerify feeds arbitrary timestamp, signature and body. Verify must never
// panic, and may accept only a triple that was actually signed, byte for
// byte: a different body, timestamp or signature spelling is refused.
func FuzzVerify(f *testing.F) {
	key := testKey(f, webhookKeyFile)
	v := newTestVerifier(f)
	type vector struct{ ts, sig, body string }
	var signed []vector
	for _, c := range []struct {
		offset time.Duration
		body   string
	}{{0, webhookBody}, {-time.Hour, `{"notificationType":"InwardPaymentReconciled"}`}, {time.Minute, ``}} {
		ts := stablemint.FormatWebhookTimestamp(fixedNow.Add(c.offset))
		vec := vector{ts, signWebhook(f, key, ts, []byte(c.body)), c.body}
		signed = append(signed, vec)
		f.Add(vec.ts, vec.sig, []byte(vec.body))
		f.Add(vec.ts, vec.sig+"\n", []byte(vec.body))
		f.Add(vec.ts, vec.sig, []byte(vec.body+" "))
		f.Add(vec.ts+" ", vec.sig, []byte(vec.body))
	}
	f.Add("0000-01-01T00:00:00Z", "AAAA", []byte("{}"))
	f.Add("", "", []byte(nil))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := v.Verify(webhookHeaders(ts, sig), body)
		if err == nil {
			for _, s := range signed {
				if s.ts == ts && s.sig == sig && s.body == string(body) {
					return
				}
			}
			t.Fatalf("Verify accepted an unsigned triple: ts %q sig %q body %q", ts, sig, body)
		}
		var ve *stablemint.VerifyError
		if !errors.As(err, &ve) || ve.Reason == "" {
			t.Fatalf("error %v is not a *VerifyError with a reason", err)
		}
	})
}

// FuzzVerifyTamper signs a fuzzed body at a fuzzed time, then checks that
// Verify accepts it exactly when the time is inside the window, and refuses
// it once one body byte or the timestamp changes.
func FuzzVerifyTamper(f *testing.F) {
	key := testKey(f, webhookKeyFile)
	v := newTestVerifier(f)
	f.Add([]byte(webhookBody), int64(0), uint16(3))
	f.Add([]byte(nil), int64(-4*3600), uint16(0))
	f.Add([]byte("x"), int64(301), uint16(9))
	f.Fuzz(func(t *testing.T, body []byte, offsetSeconds int64, pos uint16) {
		offset := time.Duration(offsetSeconds%(48*3600)) * time.Second
		at := fixedNow.Add(offset)
		ts := stablemint.FormatWebhookTimestamp(at)
		sig := signWebhook(t, key, ts, body)
		inWindow := !at.Before(fixedNow.Add(-past)) && !at.After(fixedNow.Add(future))
		if err := v.Verify(webhookHeaders(ts, sig), body); (err == nil) != inWindow {
			t.Fatalf("Verify(offset %s) = %v, want accepted %v", offset, err, inWindow)
		}
		tampered := append(bytes.Clone(body), 'x')
		if len(body) > 0 {
			tampered = flipByte(body, int(pos)%len(body))
		}
		if err := v.Verify(webhookHeaders(ts, sig), tampered); err == nil {
			t.Fatalf("Verify accepted a tampered body %q (signed %q)", tampered, body)
		}
		otherTS := stablemint.FormatWebhookTimestamp(at.Add(time.Second))
		if err := v.Verify(webhookHeaders(otherTS, sig), body); err == nil {
			t.Fatalf("Verify accepted timestamp %s for a signature over %s", otherTS, ts)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	key := testKey(b, webhookKeyFile)
	v := newTestVerifier(b)
	body := []byte(webhookBody)
	ts := stablemint.FormatWebhookTimestamp(fixedNow)
	h := webhookHeaders(ts, signWebhook(b, key, ts, body))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
