package ingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

// familySequences are the event types StableMint (and the sandbox) send for
// one payment, in order, and the status each sequence ends in.
var familySequences = []struct {
	family string
	types  []string
	ends   paylink.Status
}{
	{"v2", []string{"partner.customer.deposit.created", "partner.customer.deposit.initiated", "partner.customer.deposit.submitted",
		"partner.customer.deposit.accepted", "partner.customer.deposit.completed"}, paylink.StatusSettled},
	{"partner", []string{"partner.customer.deposit.created", "partner.customer.deposit.submitted",
		"partner.customer.deposit.reconciled", "partner.customer.deposit.accepted"}, paylink.StatusPaid},
	{"legacy", []string{"InwardPaymentReconciled"}, paylink.StatusPaid},
	{"v2", []string{"partner.customer.deposit.created", "partner.customer.deposit.failed"}, paylink.StatusFailed},
	{"partner", []string{"partner.customer.deposit.created", "partner.customer.deposit.failed"}, paylink.StatusFailed},
	{"legacy", []string{"InwardPaymentFailed"}, paylink.StatusFailed},
}

// payload is a body of family for link l, shaped as StableMint sends it.
func payload(family, typ string, l db.Link) []byte {
	common := map[string]any{"sessionId": l.SMReference, "idempotencyKey": l.IdempotencyKey,
		"websiteReference": l.WebsiteReference, "amount": json.Number("9.50"), "currency": "EUR", "customFields": nil}
	switch family {
	case "v2":
		common["eventType"], common["reference"], common["timestamp"] = typ, "DEP-"+l.SMReference, "2026-11-25T10:00:00Z"
		b, _ := json.Marshal(map[string]any{"eventId": uuid.NewString(), "data": common})
		return b
	case "partner":
		common["notificationType"], common["reference"], common["partnerId"], common["customerId"] = typ, "DEP-"+l.SMReference, "PARTNER-SANDBOX", l.CustomerID
	default:
		common["notificationType"], common["paymentReference"], common["accountIban"] = typ, "DEP-"+l.SMReference, "DE89370400440532013000"
	}
	b, _ := json.Marshal(common)
	return b
}

var propertyRank = map[paylink.Status]int{paylink.StatusOpen: 1, paylink.StatusProcessing: 2, paylink.StatusPaid: 3, paylink.StatusSettled: 4, paylink.StatusFailed: 5}

// Any permutation of a family's sequence, with any duplicates, delivered in
// any grouping into transactions, ends where the in-order run ends, never
// moves a link backwards, and leaves each distinct event exactly once on the
// link's timeline (docs/security.md WH-9).
func TestWebhookOrderAndRepeatsNeverMatter(t *testing.T) {
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "property.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, db.NewUser{Email: "p@example.com", Name: "P", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// The status after each batch, read without the link's joins.
	read, err := sql.Open("sqlite", db.DSN(st.Path(), true))
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	status := func(id int64) paylink.Status {
		var s paylink.Status
		if err := read.QueryRowContext(ctx, "SELECT status FROM links WHERE id = ?", id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if checks := flag.Lookup("rapid.checks"); raceDetector && checks.Value.String() == checks.DefValue {
		// Under -race each case costs ~60 ms of instrumented SQLite; draw a
		// quarter of the cases (an explicit -rapid.checks still wins).
		_ = checks.Value.Set("25")
		t.Cleanup(func() { _ = checks.Value.Set(checks.DefValue) })
	}
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		seq := rapid.SampledFrom(familySequences).Draw(rt, "sequence")
		n++
		l, _, err := st.CreateLink(ctx, db.NewLink{IdempotencyKey: uuid.NewString(), CustomerID: "C", CustomerEmail: "c@example.com",
			Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: fmt.Sprintf("P-%d", n),
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: u.ID, AllowDuplicate: true}, db.AuditEntry{Action: "test"})
		if err != nil {
			rt.Fatal(err)
		}
		ref := fmt.Sprintf("HS-P-%d", n)
		if err := st.CompleteLinkCreation(ctx, l.ID, ref, "https://checkout.example/"+ref, time.Now().Add(time.Hour)); err != nil {
			rt.Fatal(err)
		}
		l.SMReference = ref
		bodies := make([][]byte, len(seq.types))
		for i, typ := range seq.types {
			bodies[i] = payload(seq.family, typ, l)
		}
		order := rapid.Permutation(slices.Collect(func(yield func(int) bool) {
			for i := range bodies {
				if !yield(i) {
					return
				}
			}
		})).Draw(rt, "order")
		for range rapid.IntRange(0, 6).Draw(rt, "duplicates") {
			what := rapid.IntRange(0, len(bodies)-1).Draw(rt, "duplicate")
			at := rapid.IntRange(0, len(order)).Draw(rt, "at")
			order = slices.Insert(order, at, what)
		}
		rank := propertyRank[paylink.StatusOpen]
		for len(order) > 0 {
			size := min(len(order), rapid.IntRange(1, 4).Draw(rt, "batch"))
			ds := make([]db.WebhookDelivery, size)
			for i, idx := range order[:size] {
				ds[i] = db.WebhookDelivery{BodySHA256: "-", Event: EventData(bodies[idx])}
			}
			order = order[size:]
			if _, err := st.IngestWebhooks(ctx, ds); err != nil {
				rt.Fatal(err)
			}
			now := status(l.ID)
			if propertyRank[now] < rank {
				rt.Fatalf("moved backwards to %s", now)
			}
			rank = propertyRank[now]
		}
		got, _ := st.LinkByID(ctx, l.ID)
		if got.Status != seq.ends || got.NeedsReview || got.PaidAfterExpiry {
			rt.Fatalf("ended %s (review %v, after expiry %v), want %s", got.Status, got.NeedsReview, got.PaidAfterExpiry, seq.ends)
		}
		timeline, _ := st.LinkTimeline(ctx, l.ID)
		refs := map[int64]int{}
		for _, e := range timeline {
			if e.Kind == "webhook" || e.Kind == "status" {
				refs[e.RefID]++
			}
		}
		if len(refs) != len(bodies) {
			rt.Fatalf("timeline holds %d distinct events, want %d", len(refs), len(bodies))
		}
		for id, c := range refs {
			if c != 1 || id == 0 {
				rt.Fatalf("event %d is on the timeline %d times", id, c)
			}
		}
	})
}
