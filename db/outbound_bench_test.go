package db

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// BenchmarkIngestStatusChangesSubscribed is BenchmarkIngestStatusChanges
// with one outbound-webhook endpoint subscribed to every event type: each
// delivery's status change also queues a message (and its snapshot)
// through the triggers of migration 0021. Compare the two in one run
// (docs/outbound-webhooks.md has the figures).
func BenchmarkIngestStatusChangesSubscribed(b *testing.B) {
	s := OpenTestStore(b)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Email: "bench@example.com", Name: "Bench", Role: paylink.RoleFinance, PasswordHash: "x"}, AuditEntry{Action: "test"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateOutboundEndpoint(ctx, NewOutboundEndpoint{URL: "https://hooks.example.com/", Types: OutboundEventTypes,
		Secret: "whsec_c2VjcmV0"}, AuditEntry{Action: "test"}); err != nil {
		b.Fatal(err)
	}
	const batch = 8
	now := time.Now()
	if _, err := s.write.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO links (idempotency_key, status, customer_id, customer_email, country, amount_minor, currency,
			success_url, support_url, exit_url, error_url, sm_reference, checkout_url, expires_at, created_by, created_at, updated_at)
		SELECT 'bench-' || i, 'open', 'C' || i, 'a@example.com', 'DE', 950, 'EUR', 'https://x/s', 'https://x/h', 'https://x/e',
			'https://x/r', 'SM-' || i, 'https://checkout.example/' || i, ?, ?, ?, ? FROM seq`,
		b.N*batch, ms(now.Add(72*time.Hour)), u.ID, ms(now), ms(now)); err != nil {
		b.Fatal(err)
	}
	w, err := s.NewWebhookWriter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ds := make([]WebhookDelivery, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ds {
			k := strconv.Itoa(i*batch + j + 1)
			ds[j] = WebhookDelivery{ReceivedAt: time.Now(), IP: "192.0.2.1", RequestID: "bench", BodySHA256: "sha-" + k, BodySize: 40,
				SigTimestamp: "t", Signature: "s", Event: WebhookEventData{Key: "ev-" + k, Parsed: true, Family: "v2",
					Type: "partner.customer.deposit.completed", Effect: paylink.EffectPaid, IdempotencyKey: "bench-" + k,
					AmountRaw: "9.50", Currency: "EUR", AmountMinor: 950, AmountKnown: true, Exponent: 2, Body: []byte(`{"eventId":"ev-` + k + `"}`)}}
		}
		if _, err := w.IngestWebhooks(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM outbound_messages WHERE type = 'link.paid'").Scan(&n); err != nil || n != b.N*batch {
		b.Fatalf("%d link.paid messages (%v), want %d", n, err, b.N*batch)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deliveries/s")
}
