package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

func TestMatchTOTPAcceptsOneStepEitherSideOnce(t *testing.T) {
	secret := NewTOTPSecret()
	now := time.Date(2026, 12, 5, 12, 0, 10, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := stepOf(now)
	for _, c := range []struct {
		name  string
		code  string
		after int64
		ok    bool
	}{
		{"this step", code(now), 0, true},
		{"typed with a space", code(now)[:3] + " " + code(now)[3:], 0, true},
		{"the step before", code(now.Add(-TOTPPeriod * time.Second)), 0, true},
		{"the step after", code(now.Add(TOTPPeriod * time.Second)), 0, true},
		{"two steps before", code(now.Add(-2 * TOTPPeriod * time.Second)), 0, false},
		{"already used", code(now), cur, false},
		{"not six digits", "12345a", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			step, ok := MatchTOTP(secret, c.code, now, c.after)
			if ok != c.ok || (ok && (step < cur-TOTPSkew || step > cur+TOTPSkew)) {
				t.Fatalf("MatchTOTP = %d, %v; want ok=%v", step, ok, c.ok)
			}
		})
	}
}

func TestRecoveryCodesAreFreshAndTypedLoosely(t *testing.T) {
	codes, hashes := NewRecoveryCodes()
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if seen[c] {
			t.Fatalf("code %q twice", c)
		}
		seen[c] = true
		loose := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
		if HashRecoveryCode(loose) != hashes[i] {
			t.Errorf("%q typed as %q does not match", c, loose)
		}
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")) {
			t.Error("the stored hash holds the code")
		}
	}
	if got := GroupSecret("ABCDEFGHIJ"); got != "ABCD EFGH IJ" {
		t.Errorf("GroupSecret = %q", got)
	}
}
