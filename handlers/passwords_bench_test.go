package handlers_test

import (
	"context"
	"testing"

	"github.com/paylinks/paylinks/handlers"
)

// BenchmarkHash is one argon2id hash with the production parameters
// (m=19 MiB, t=2, p=1): the cost of every sign-in, for tuning them.
func BenchmarkHash(b *testing.B) {
	h, err := handlers.NewHasher(handlers.DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
