// Package auth holds the rules of signing in that need no request: password
// hashing with argon2id at bounded concurrency, and the password policy.
// docs/security.md (A1) gives the figures.
package auth

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/alexedwards/argon2id"
)

// Password policy, in bytes (docs/security.md A1).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// Ceilings for parameters read back from a stored hash: a hash edited to ask
// for 4 GiB must fail closed, not allocate it.
const (
	maxHashMemoryKiB  = 128 * 1024
	maxHashIterations = 10
	maxHashParallel   = 16
)

// DefaultHashParams are paylinks' argon2id parameters: the OWASP minimum
// (m=19 MiB, t=2, p=1), never argon2id.DefaultParams (p would follow the host).
var DefaultHashParams = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// ErrHasherBusy means too many hashes are running and waiting; the caller
// answers 503 rather than queueing without bound.
var ErrHasherBusy = errors.New("password hashing is saturated")

// errHashRefused marks a stored hash whose parameters exceed the ceilings.
var errHashRefused = errors.New("stored hash parameters exceed the allowed ceiling")

// Hasher hashes and verifies passwords with argon2id, at most NumCPU at a
// time and at most maxWaiting queued, so memory stays near m × NumCPU.
type Hasher struct {
	params     argon2id.Params
	running    chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	dummy      string // a hash of a random password, verified for unknown users
}

// NewHasher builds a hasher with the given parameters.
func NewHasher(p argon2id.Params) (*Hasher, error) {
	h := &Hasher{params: p, running: make(chan struct{}, runtime.NumCPU()), maxWaiting: 64}
	dummy, err := argon2id.CreateHash(rand.Text(), &h.params)
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if h.waiting.Add(1) > h.maxWaiting+int64(cap(h.running)) {
		h.waiting.Add(-1)
		return nil, ErrHasherBusy
	}
	select {
	case h.running <- struct{}{}:
		return func() { <-h.running; h.waiting.Add(-1) }, nil
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, ctx.Err()
	}
}

// Hash returns the encoded argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return argon2id.CreateHash(password, &h.params)
}

// Verify checks password against an encoded hash. needsRehash is true when
// the hash was made with other parameters. A hash whose parameters exceed
// the ceilings is refused with an error, without running it.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	p, _, _, err := argon2id.DecodeHash(encoded)
	if err != nil {
		return false, false, fmt.Errorf("decode stored hash: %w", err)
	}
	if p.Memory > maxHashMemoryKiB || p.Iterations > maxHashIterations || p.Parallelism > maxHashParallel || p.Parallelism == 0 {
		return false, false, errHashRefused
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	ok, _, err = argon2id.CheckHash(password, encoded)
	if err != nil {
		return false, false, err
	}
	needsRehash = p.Memory != h.params.Memory || p.Iterations != h.params.Iterations ||
		p.Parallelism != h.params.Parallelism || p.KeyLength != h.params.KeyLength
	return ok, needsRehash, nil
}

// VerifyDummy spends the same work as Verify on a hash no password matches,
// so an unknown email costs as much as a wrong password. It fails as
// Verify does (ErrHasherBusy when saturated), so that the caller answers
// an unknown email exactly as it answers a known one.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

//go:embed common_passwords.txt
var commonPasswordList string

// commonPasswords is the refused list, lower-cased.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonPasswordList, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[strings.ToLower(l)] = true
		}
	}
	return m
}()

// CheckPasswordPolicy returns a message for the user, or "" when the
// password is acceptable: 12 to 1024 bytes and not a well-known password.
// No composition rules, no truncation, no case folding of the password.
func CheckPasswordPolicy(pw string) string {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Sprintf("Use at least %d characters.", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Sprintf("Use at most %d bytes.", MaxPasswordLen)
	case commonPasswords[strings.ToLower(pw)]:
		return "This password is too common; choose another."
	}
	return ""
}

// GeneratePassword makes a one-time password of about 130 bits that is easy
// to read out: base32 in groups of five.
func GeneratePassword() string {
	t := rand.Text() // 26 base32 characters, 130 bits
	var b strings.Builder
	for i := 0; i < len(t); i += 5 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(t[i:min(i+5, len(t))])
	}
	return b.String()
}
