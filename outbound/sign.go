// Package outbound delivers paylinks' own webhooks: the messages that the
// triggers of migration 0021 queue in the transaction of each change (a
// link created, its status or flags changed, an email sent or failed), to
// the endpoints admins registered, signed as the Standard Webhooks
// specification says. The Worker claims due messages with a lease, sends
// them after their commit through an SSRF-guarded client (Guard), and
// records every attempt; retries back off for up to 3 days, and an
// endpoint failing that long is disabled. docs/outbound-webhooks.md
// describes it for receivers and admins.
package outbound

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every endpoint secret, as Standard Webhooks writes
// them: whsec_ and the base64 of the key.
const SecretPrefix = "whsec_"

// NewSecret is a fresh endpoint secret: whsec_ and 32 random bytes in
// standard base64.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// secretKey is the HMAC key of a secret.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("outbound: the endpoint's secret is not whsec_ and base64")
	}
	return key, nil
}

// Sign is the webhook-signature header for one message and attempt: a
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" for each secret, space
// separated (both secrets sign during a rotation's overlap).
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	parts := make([]string, 0, len(secrets))
	unix := strconv.FormatInt(ts.Unix(), 10)
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msgID))
		h.Write([]byte{'.'})
		h.Write([]byte(unix))
		h.Write([]byte{'.'})
		h.Write(body)
		parts = append(parts, "v1,"+base64.StdEncoding.EncodeToString(h.Sum(nil)))
	}
	return strings.Join(parts, " "), nil
}
