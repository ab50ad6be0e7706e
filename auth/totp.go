package auth

// Two-factor codes (RFC 6238 TOTP) and recovery codes: the rules of
// docs/security.md A2 and B1 AUTH-8, with no request in sight. The pages
// that enrol and check them are handlers/totp.go.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const (
	TOTPPeriod = 30 // seconds per step
	TOTPSkew   = 1  // steps accepted either side of the current one
	// TOTPSecretSize is the seed: 160 bits, RFC 4226's recommendation and
	// what every authenticator app accepts.
	TOTPSecretSize    = 20
	RecoveryCodeCount = 10
)

var totpOpts = totp.ValidateOpts{Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// stepOf is the RFC 6238 counter of t.
func stepOf(t time.Time) int64 { return t.Unix() / TOTPPeriod }

// LooksLikeTOTP reports whether code is six digits (spaces ignored); other
// input is tried as a recovery code.
func LooksLikeTOTP(code string) bool {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// MatchTOTP finds the step, within one of now's, whose code is code and
// which is newer than after (the last step accepted). Each candidate is
// compared in constant time; the newest match wins.
func MatchTOTP(secret, code string, now time.Time, after int64) (int64, bool) {
	code = strings.ReplaceAll(code, " ", "")
	if !LooksLikeTOTP(code) {
		return 0, false
	}
	cur := stepOf(now)
	var found int64
	ok := false
	for step := cur - TOTPSkew; step <= cur+TOTPSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*TOTPPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > after {
			found, ok = step, true
		}
	}
	return found, ok
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes makes RecoveryCodeCount codes of 128 random bits each
// and their hashes. At that entropy a plain SHA-256 is as good as a slow
// hash (nobody can enumerate 2^128 inputs), and checking one costs nothing.
func NewRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s := strings.ToLower(b32.EncodeToString(b)) // 26 characters
		code := s[0:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:20] + "-" + s[20:]
		codes = append(codes, code)
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return codes, hashes
}

// HashRecoveryCode ignores case, spaces and dashes, as people type them.
func HashRecoveryCode(code string) string {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// GroupSecret spaces the base32 key in fours for reading aloud or typing.
func GroupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NewTOTPSecret makes a fresh TOTPSecretSize-byte seed, in the unpadded
// base32 that authenticator apps read and paylinks stores.
func NewTOTPSecret() string {
	b := make([]byte, TOTPSecretSize)
	_, _ = rand.Read(b)
	return b32.EncodeToString(b)
}

// DecodeTOTPSecret reads a stored secret back into its seed bytes.
func DecodeTOTPSecret(s string) ([]byte, error) { return b32.DecodeString(s) }
