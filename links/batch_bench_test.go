package links_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/stablemint"
)

const benchBatch = 200

// BenchmarkBatchMint200 mints a 200-row batch against the sandbox with 4
// in flight, through the import job (each link's attempt committed before
// its call and its answer after): links/s beside
// BenchmarkBaselineDirectCalls200.
func BenchmarkBatchMint200(b *testing.B) {
	m := newMinting(b)
	ctx := context.Background()
	bm := links.NewBatchMinter(m.minter, m.st, 4, nil, nil)
	n := 0
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		importBatch(b, m, benchBatch, fmt.Sprintf("b%d", n))
		n++
		b.StartTimer()
		start := time.Now()
		if err := bm.Run(ctx); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*benchBatch)/total.Seconds(), "links/s")
}

// BenchmarkBaselineDirectCalls200 makes the same number of
// CreateHostedSession calls to the sandbox, 4 at a time, with no storage.
func BenchmarkBaselineDirectCalls200(b *testing.B) {
	m := newMinting(b)
	ctx := context.Background()
	amount, _ := stablemint.NewAmount(950, "EUR")
	n := 0
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := range benchBatch {
			sem <- struct{}{}
			key := fmt.Sprintf("00000000-0000-4000-8000-%012d", n*benchBatch+i)
			wg.Go(func() {
				defer func() { <-sem }()
				_, err := m.client.CreateHostedSession(ctx, stablemint.Request{UserID: "CUST-42", UserEmail: "ada@example.com",
					UserCountryCode: "DE", Currency: "EUR", Amount: amount, SuccessURL: "https://shop.example/s",
					SupportURL: "https://shop.example/h", ExitURL: "https://shop.example/e", ErrorURL: "https://shop.example/r",
					IdempotencyKey: key, WebsiteReference: key})
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		total += time.Since(start)
		n++
	}
	b.ReportMetric(float64(n*benchBatch)/total.Seconds(), "links/s")
}

// BenchmarkConfirmImport10000 is the confirmation of a full file: one
// transaction committing 10,000 creating links, their timeline lines and
// rows (it runs inside the request, within its 20 s).
func BenchmarkConfirmImport10000(b *testing.B) {
	m := newMinting(b)
	n := 0
	for b.Loop() {
		importBatch(b, m, 10000, fmt.Sprintf("c%d", n))
		n++
	}
}
