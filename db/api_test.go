package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
)

// TestIdempotencyClaimTakenWithTheLink: an Idempotency-Key claim stored
// with a link's creating row holds the key as a claim of its own would: a
// second link under it is refused with nothing stored, a repeat finds it
// busy, another request finds it reused; its answer is kept once, and a
// refused request's answer (no link, so no claim) is kept as well.
func TestIdempotencyClaimTakenWithTheLink(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	user := whUser(t, st)
	key, err := st.CreateAPIKey(ctx, db.NewAPIKey{Name: "ERP", Prefix: "pl_test_abcd", SecretHash: "h1",
		Scopes: []string{"links:write"}, CreatedBy: user}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	const stale = 2 * time.Minute
	claim := db.IdemClaim{KeyID: key.ID, Key: "order-1", Fingerprint: "fp-1"}
	nl := func(token string) db.NewLink {
		return db.NewLink{IdempotencyKey: token, FormToken: token, CustomerID: "CUST-1", CustomerEmail: "ada@example.com",
			Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: "INV-1",
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: key.UserID, AllowDuplicate: true, Claim: &claim}
	}
	peek := func(c db.IdemClaim) (string, db.IdemAnswer) {
		t.Helper()
		state, ans, err := st.PeekIdempotency(ctx, c.KeyID, c.Key, c.Fingerprint, stale)
		if err != nil {
			t.Fatal(err)
		}
		return state, ans
	}

	if state, _ := peek(claim); state != "" {
		t.Fatalf("before any request: %q, want no record", state)
	}
	_, created, err := st.CreateLink(ctx, nl("api:1:order-1"), db.AuditEntry{Action: "test"})
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	if state, _ := peek(claim); state != db.IdemBusy {
		t.Errorf("while the link is being made: %q, want busy", state)
	}
	other := claim
	other.Fingerprint = "fp-2"
	if state, _ := peek(other); state != db.IdemMismatch {
		t.Errorf("another request under the key: %q, want mismatch", state)
	}
	// A request that read no record before the first committed: refused,
	// and its link is not stored.
	before, _ := st.CountLinks(ctx)
	if _, _, err := st.CreateLink(ctx, nl("api:1:order-1-racer"), db.AuditEntry{Action: "test"}); !errors.Is(err, db.ErrIdemTaken) {
		t.Fatalf("second link under the key: %v, want ErrIdemTaken", err)
	}
	if after, _ := st.CountLinks(ctx); after != before {
		t.Errorf("links %d → %d: the refused link was stored", before, after)
	}

	// Another request's answer does not overwrite the claim; the claim's own does.
	if err := st.FinishIdempotency(ctx, other, db.IdemAnswer{Status: 422, Body: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	if state, _ := peek(claim); state != db.IdemBusy {
		t.Errorf("after another request's answer: %q, want still busy", state)
	}
	answer := db.IdemAnswer{Status: 201, ContentType: "application/json", Location: "/api/v1/links/1", Body: []byte(`{"id":1}`)}
	if err := st.FinishIdempotency(ctx, claim, answer); err != nil {
		t.Fatal(err)
	}
	if state, ans := peek(claim); state != db.IdemReplay || string(ans.Body) != `{"id":1}` || ans.Location != answer.Location {
		t.Errorf("answered: %q %+v", state, ans)
	}
	if err := st.FinishIdempotency(ctx, claim, db.IdemAnswer{Status: 201, Body: []byte(`{"id":2}`)}); err != nil {
		t.Fatal(err)
	}
	if _, ans := peek(claim); string(ans.Body) != `{"id":1}` {
		t.Errorf("a second answer replaced the first: %s", ans.Body)
	}

	// A refused request (no link, so no claim was stored) keeps its answer.
	refused := db.IdemClaim{KeyID: key.ID, Key: "order-2", Fingerprint: "fp-3"}
	if err := st.FinishIdempotency(ctx, refused, db.IdemAnswer{Status: 422, Body: []byte("bad amount")}); err != nil {
		t.Fatal(err)
	}
	if state, ans := peek(refused); state != db.IdemReplay || ans.Status != 422 {
		t.Errorf("refused request: %q %+v, want its 422 replayed", state, ans)
	}

	// A claim left by a dead process is stale after two minutes, and taken over.
	dead := db.IdemClaim{KeyID: key.ID, Key: "order-3", Fingerprint: "fp-4"}
	nl3 := nl("api:1:order-3")
	nl3.Claim = &dead
	if _, _, err := st.CreateLink(ctx, nl3, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(3 * time.Minute)
	st.Now = func() time.Time { return later }
	if state, _ := peek(dead); state != db.IdemStale {
		t.Errorf("three minutes later: %q, want stale", state)
	}
	if state, _, err := st.ClaimIdempotency(ctx, dead.KeyID, dead.Key, dead.Fingerprint, stale); err != nil || state != db.IdemClaimed {
		t.Errorf("take over: %q %v", state, err)
	}
}
