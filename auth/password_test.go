package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
)

// cheap parameters keep these tests fast; one test uses the real ones.
var cheap = argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestOversizedStoredHashFailsClosed(t *testing.T) {
	h, _ := NewHasher(cheap)
	evil := "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	ok, _, err := h.Verify(context.Background(), "anything", evil)
	if ok || err == nil {
		t.Fatalf("a 4 GiB hash must be refused unrun: ok=%v err=%v", ok, err)
	}
}

func TestRealHashParametersAreTheOWASPMinimum(t *testing.T) {
	p := DefaultHashParams
	if p.Memory < 19*1024 || p.Iterations < 2 || p.Parallelism != 1 || p.SaltLength < 16 || p.KeyLength < 32 {
		t.Fatalf("parameters below the floor: %+v", p)
	}
	h, err := NewHasher(p)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := h.Hash(context.Background(), "P"+strings.Repeat("w", 70))
	ok, _, _ := h.Verify(context.Background(), "P"+strings.Repeat("w", 70)+"x", a)
	if ok {
		t.Fatal("P and P+\"x\" must hash differently (no truncation)")
	}
}

func TestHashVerifiesAndAsksForARehashWhenParametersChange(t *testing.T) {
	old, _ := NewHasher(cheap)
	enc, err := old.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	stronger := cheap
	stronger.Memory *= 2
	h, _ := NewHasher(stronger)
	ok, rehash, err := h.Verify(context.Background(), "correct horse battery staple", enc)
	if !ok || !rehash || err != nil {
		t.Fatalf("ok=%v rehash=%v err=%v, want a match that asks for a rehash", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(context.Background(), "correct horse battery stapler", enc); ok {
		t.Fatal("a wrong password matched")
	}
}

func TestHasherRefusesBeyondItsQueue(t *testing.T) {
	h, _ := NewHasher(cheap)
	h.maxWaiting = 0
	for range cap(h.running) {
		h.running <- struct{}{}
		h.waiting.Add(1)
	}
	if _, err := h.Hash(context.Background(), "x"); !errors.Is(err, ErrHasherBusy) {
		t.Fatalf("err = %v, want ErrHasherBusy while every slot is taken and none may wait", err)
	}
	// An unknown email's stand-in check fails the same way, so sign-in
	// answers it as it answers a known one (503), not with a fast 401.
	if err := h.VerifyDummy(context.Background(), "x"); !errors.Is(err, ErrHasherBusy) {
		t.Fatalf("VerifyDummy err = %v, want ErrHasherBusy", err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, c := range []struct{ pw, says string }{
		{"short", "at least 12"},
		{strings.Repeat("a", 1025), "at most 1024"},
		{"Password1234", "too common"},
		{"correct horse battery staple", ""},
	} {
		if got := CheckPasswordPolicy(c.pw); (c.says == "") != (got == "") || !strings.Contains(got, c.says) {
			t.Errorf("CheckPasswordPolicy(%.20q) = %q, want %q", c.pw, got, c.says)
		}
	}
	if pw := GeneratePassword(); len(pw) < MinPasswordLen || CheckPasswordPolicy(pw) != "" {
		t.Errorf("generated password %q fails the policy", pw)
	}
}
