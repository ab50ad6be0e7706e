package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

var whSeq atomic.Int64

func whUser(t testing.TB, st *db.Store) int64 {
	t.Helper()
	u, err := st.CreateUser(context.Background(), db.NewUser{Email: fmt.Sprintf("wh%d@example.com", whSeq.Add(1)),
		Name: "Webhook tester", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// whLink creates an open link of 9.50 EUR with StableMint reference ref.
func whLink(t testing.TB, st *db.Store, user int64, ref, website string, expires time.Time) db.Link {
	t.Helper()
	ctx := context.Background()
	n := whSeq.Add(1)
	l, _, err := st.CreateLink(ctx, db.NewLink{
		IdempotencyKey: fmt.Sprintf("idem-%d", n), CustomerID: "CUST-1", CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: website,
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
		CreatedBy: user, AllowDuplicate: true,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if ref != "" {
		if err := st.CompleteLinkCreation(ctx, l.ID, ref, "https://checkout.example/"+ref, expires); err != nil {
			t.Fatal(err)
		}
	}
	l, err = st.LinkByID(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// whEvent is a verified delivery of an event for link l (by its key).
func whEvent(key string, effect paylink.Effect, l db.Link) db.WebhookDelivery {
	return db.WebhookDelivery{
		IP: "192.0.2.7", RequestID: "req-" + key, BodySHA256: "sha-" + key, BodySize: 42,
		SigTimestamp: "2026-11-25T10:00:00Z", Signature: "c2ln",
		Event: db.WebhookEventData{
			Key: key, Parsed: true, Family: "v2", Type: "partner.customer.deposit." + string(effect), Effect: effect,
			SessionID: l.SMReference, DepositReference: "DEP-" + l.SMReference, IdempotencyKey: l.IdempotencyKey,
			WebsiteReference: l.WebsiteReference, AmountRaw: "9.50", Currency: "EUR", AmountMinor: 950, AmountKnown: true,
			Exponent: 2, Body: []byte(`{"eventId":"` + key + `"}`),
		},
	}
}

func ingest(t testing.TB, st *db.Store, ds ...db.WebhookDelivery) []db.WebhookResult {
	t.Helper()
	res, err := st.IngestWebhooks(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func linkNow(t testing.TB, st *db.Store, id int64) db.Link {
	t.Helper()
	l, err := st.LinkByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// webhookLines is the link's timeline entries that came from events.
func webhookLines(t testing.TB, st *db.Store, id int64) []db.LinkEvent {
	t.Helper()
	all, err := st.LinkTimeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.LinkEvent
	for _, e := range all {
		if e.Kind == "webhook" || e.Kind == "status" {
			out = append(out, e)
		}
	}
	return out
}

func TestIngestStoresTheEventAndAppliesItTogether(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	l := whLink(t, st, whUser(t, st), "HS1", "INV-1", time.Now().Add(time.Hour))
	d := whEvent("evt-1", paylink.EffectPaid, l)
	res := ingest(t, st, d)
	if len(res) != 1 || res[0].Duplicate || res[0].Outcome != paylink.OutcomeApplied || res[0].LinkID != l.ID || res[0].EventID == 0 {
		t.Fatalf("result %+v", res)
	}
	got := linkNow(t, st, l.ID)
	if got.Status != paylink.StatusPaid || got.SMSessionID != "HS1" || got.DepositReference != "DEP-HS1" {
		t.Fatalf("link status %s session %q deposit %q, want paid HS1 DEP-HS1", got.Status, got.SMSessionID, got.DepositReference)
	}
	lines := webhookLines(t, st, l.ID)
	if len(lines) != 1 || lines[0].Kind != "status" || lines[0].RefID != res[0].EventID || !strings.Contains(lines[0].Message, "open → paid") {
		t.Fatalf("timeline %+v", lines)
	}
	e, err := st.WebhookEventByID(ctx, res[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Body) != `{"eventId":"evt-1"}` || e.Key != "evt-1" || e.Type != "partner.customer.deposit.paid" || e.LinkID != l.ID {
		t.Fatalf("stored event %+v", e)
	}
	ds, err := st.WebhookEventDeliveries(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Kind != db.DeliveryEvent || ds[0].SigTimestamp != "2026-11-25T10:00:00Z" || ds[0].Signature != "c2ln" || ds[0].IP != "192.0.2.7" {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestDuplicateKeysChangeNothing(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	l := whLink(t, st, whUser(t, st), "HS2", "INV-2", time.Now().Add(time.Hour))
	// Twice in one batch, then again in a later one.
	res := ingest(t, st, whEvent("dup", paylink.EffectProcessing, l), whEvent("dup", paylink.EffectProcessing, l))
	res = append(res, ingest(t, st, whEvent("dup", paylink.EffectProcessing, l))...)
	if res[0].Duplicate || !res[1].Duplicate || !res[2].Duplicate || res[1].EventID != res[0].EventID || res[2].Outcome != paylink.OutcomeApplied {
		t.Fatalf("results %+v", res)
	}
	if n := len(webhookLines(t, st, l.ID)); n != 1 {
		t.Fatalf("%d timeline lines, want 1", n)
	}
	ds, _ := st.WebhookEventDeliveries(ctx, res[0].EventID)
	if len(ds) != 3 || ds[1].Kind != db.DeliveryDuplicate || ds[2].Kind != db.DeliveryDuplicate {
		t.Fatalf("deliveries %+v", ds)
	}
	page, _ := st.ListWebhookDeliveries(ctx, db.WebhookFilter{Outcome: db.DeliveryDuplicate})
	if len(page.Rows) != 2 {
		t.Fatalf("duplicate filter: %d rows", len(page.Rows))
	}
}

func TestMatchingFollowsTheContractOrder(t *testing.T) {
	st := mustOpenDB(t)
	u := whUser(t, st)
	later := time.Now().Add(time.Hour)
	a := whLink(t, st, u, "HS-A", "SHARED", later)
	b := whLink(t, st, u, "HS-B", "SHARED", later)
	c := whLink(t, st, u, "HS-C", "ONLY-C", later)
	paid := whLink(t, st, u, "HS-P", "ONLY-C", later)
	ingest(t, st, whEvent("make-paid", paylink.EffectPaid, paid))

	base := func(key string) db.WebhookDelivery {
		d := whEvent(key, paylink.EffectProcessing, db.Link{})
		d.Event.SessionID, d.Event.DepositReference, d.Event.IdempotencyKey, d.Event.WebsiteReference = "", "", "", ""
		return d
	}
	cases := []struct {
		name  string
		set   func(*db.WebhookEventData)
		want  int64 // 0: unmatched
		why   string
		first bool
	}{
		{"idempotency key wins over another link's session", func(e *db.WebhookEventData) {
			e.IdempotencyKey, e.SessionID = a.IdempotencyKey, "HS-B"
		}, a.ID, "", true},
		{"unknown key falls through to sessionId", func(e *db.WebhookEventData) {
			e.IdempotencyKey, e.SessionID = "nobody", "HS-B"
		}, b.ID, "", true},
		{"reference equal to the session reference", func(e *db.WebhookEventData) { e.DepositReference = "HS-C" }, c.ID, "", true},
		{"sessionId and reference naming two links is ambiguous", func(e *db.WebhookEventData) {
			e.SessionID, e.DepositReference = "HS-A", "HS-B"
		}, 0, "Ambiguous", true},
		{"websiteReference of one unpaid link (another is paid)", func(e *db.WebhookEventData) { e.WebsiteReference = "ONLY-C" }, c.ID, "", true},
		{"websiteReference is exact, not case-folded", func(e *db.WebhookEventData) { e.WebsiteReference = "only-c" }, 0, "No link", true},
		{"websiteReference of two unpaid links is ambiguous", func(e *db.WebhookEventData) { e.WebsiteReference = "SHARED" }, 0, "Ambiguous", true},
		{"nothing to go by", func(e *db.WebhookEventData) {}, 0, "No link", true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := base(fmt.Sprintf("match-%d", i))
			tc.set(&d.Event)
			r := ingest(t, st, d)[0]
			if r.LinkID != tc.want {
				t.Fatalf("matched link %d, want %d", r.LinkID, tc.want)
			}
			if tc.want == 0 {
				e, _ := st.WebhookEventByID(context.Background(), r.EventID)
				if r.Outcome != paylink.OutcomeUnmatched || !strings.Contains(e.Detail, tc.why) {
					t.Fatalf("outcome %s detail %q, want unmatched saying %q", r.Outcome, e.Detail, tc.why)
				}
			}
		})
	}
	entries, _ := st.ListAudit(context.Background(), 100)
	n := 0
	for _, e := range entries {
		if e.Action == "webhook.unmatched" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d unmatched events audited, want 4", n)
	}
}

func TestUnknownTypesAndUnparsableBodiesAreKept(t *testing.T) {
	st := mustOpenDB(t)
	l := whLink(t, st, whUser(t, st), "HS3", "INV-3", time.Now().Add(time.Hour))
	known := whEvent("transfer", paylink.EffectNone, l)
	known.Event.Type = "customer.token.transfer.in.initiated"
	stray := whEvent("stray", paylink.EffectNone, db.Link{})
	stray.Event.Type, stray.Event.IdempotencyKey, stray.Event.SessionID, stray.Event.DepositReference = "mystery", "", "", ""
	junk := db.WebhookDelivery{BodySHA256: "h", BodySize: 3, Event: db.WebhookEventData{Key: "h", Family: "unknown", Body: []byte("[1]")}}
	res := ingest(t, st, known, stray, junk)
	if res[0].Outcome != paylink.OutcomeNoChange || res[0].LinkID != l.ID {
		t.Errorf("known no-effect type: %+v", res[0])
	}
	if res[1].Outcome != paylink.OutcomeNoChange || res[1].LinkID != 0 {
		t.Errorf("unknown unmatched type: %+v (it must not wait for an admin)", res[1])
	}
	if res[2].Outcome != paylink.OutcomeUnparsable {
		t.Errorf("unparsable: %+v", res[2])
	}
	if got := linkNow(t, st, l.ID); got.Status != paylink.StatusOpen {
		t.Errorf("status %s, want open", got.Status)
	}
	lines := webhookLines(t, st, l.ID)
	if len(lines) != 1 || !strings.Contains(lines[0].Message, "does not change a link's status") {
		t.Errorf("timeline %+v", lines)
	}
}

func TestRejectedDeliveriesKeepOnlyTheirHash(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	res := ingest(t, st, db.WebhookDelivery{IP: "203.0.113.9", BodySHA256: "abc123", BodySize: 77, RejectReason: "bad signature",
		Event: db.WebhookEventData{Key: "ignored", Body: []byte("secret")}})
	if res[0].EventID != 0 || res[0].Outcome != db.DeliveryRejected {
		t.Fatalf("result %+v", res[0])
	}
	page, err := st.ListWebhookDeliveries(ctx, db.WebhookFilter{Outcome: db.DeliveryRejected})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 || page.Rows[0].Reason != "bad signature" || page.Rows[0].BodySHA256 != "abc123" || page.Rows[0].IP != "203.0.113.9" {
		t.Fatalf("rows %+v", page.Rows)
	}
	if _, err := st.WebhookEventByID(ctx, 1); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a rejected delivery stored an event: %v", err)
	}
	entries, _ := st.ListAudit(ctx, 10)
	if entries[0].Action != "webhook.rejected" || entries[0].Outcome != "denied" || strings.Contains(entries[0].Details, "secret") {
		t.Fatalf("audit %+v", entries[0])
	}
}

func TestReviewIsDecidedByAnAdmin(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := whUser(t, st)
	admin := db.AuditEntry{ActorID: u, ActorEmail: "boss@example.com", Action: "webhook.review"}
	for _, accept := range []bool{true, false} {
		t.Run(fmt.Sprintf("accept=%v", accept), func(t *testing.T) {
			l := whLink(t, st, u, fmt.Sprintf("HS-R-%v", accept), "R", time.Now().Add(time.Hour))
			d := whEvent(fmt.Sprintf("short-%v", accept), paylink.EffectPaid, l)
			d.Event.AmountRaw, d.Event.AmountMinor = "9.00", 900
			r := ingest(t, st, d)[0]
			got := linkNow(t, st, l.ID)
			if r.Outcome != paylink.OutcomeNeedsReview || got.Status != paylink.StatusOpen || !got.NeedsReview {
				t.Fatalf("outcome %s, link %s review=%v; want needs_review, open, flagged", r.Outcome, got.Status, got.NeedsReview)
			}
			act, err := st.ResolveWebhookReview(ctx, r.EventID, accept, admin)
			if err != nil {
				t.Fatal(err)
			}
			got = linkNow(t, st, l.ID)
			want := paylink.StatusOpen
			if accept {
				want = paylink.StatusPaid
			}
			if got.Status != want || got.NeedsReview || act.LinkID != l.ID {
				t.Fatalf("after the decision: %s review=%v, want %s, not flagged", got.Status, got.NeedsReview, want)
			}
			if _, err := st.ResolveWebhookReview(ctx, r.EventID, accept, admin); !errors.Is(err, db.ErrConflict) {
				t.Fatalf("second decision: %v, want ErrConflict", err)
			}
			lines := webhookLines(t, st, l.ID)
			if last := lines[len(lines)-1]; last.ActorID != u {
				t.Fatalf("decision line %+v not by the admin", last)
			}
		})
	}
	entries, _ := st.ListAudit(ctx, 50)
	var flagged, decided int
	for _, e := range entries {
		switch e.Action {
		case "webhook.needs_review":
			flagged++
		case "webhook.review":
			decided++
		}
	}
	if flagged != 2 || decided != 2 {
		t.Fatalf("audit: %d flagged, %d decisions; want 2 and 2", flagged, decided)
	}
}

func TestAdminAssignsDismissesAndReapplies(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := whUser(t, st)
	admin := func(action string) db.AuditEntry {
		return db.AuditEntry{ActorID: u, ActorEmail: "boss@example.com", Action: action}
	}
	l := whLink(t, st, u, "HS-T", "INV-T", time.Now().Add(time.Hour))
	orphan := whEvent("orphan", paylink.EffectPaid, db.Link{})
	orphan.Event.SessionID, orphan.Event.DepositReference, orphan.Event.IdempotencyKey = "HS-ELSEWHERE", "DEP-X", ""
	other := orphan
	other.Event.Key = "other"
	res := ingest(t, st, orphan, other)
	if res[0].Outcome != paylink.OutcomeUnmatched {
		t.Fatalf("orphan: %+v", res[0])
	}

	act, err := st.AssignWebhookEvent(ctx, res[0].EventID, l.ID, orphan.Event, admin("webhook.assign"))
	if err != nil {
		t.Fatal(err)
	}
	got := linkNow(t, st, l.ID)
	if act.Outcome != paylink.OutcomeApplied || got.Status != paylink.StatusPaid || got.SMSessionID != "HS-ELSEWHERE" || got.DepositReference != "DEP-X" {
		t.Fatalf("assign: %+v, link %s %q %q", act, got.Status, got.SMSessionID, got.DepositReference)
	}
	if _, err := st.AssignWebhookEvent(ctx, res[0].EventID, l.ID, orphan.Event, admin("webhook.assign")); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("assigning an applied event: %v, want ErrConflict", err)
	}
	if _, err := st.AssignWebhookEvent(ctx, res[1].EventID, 999999, other.Event, admin("webhook.assign")); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("assigning to no link: %v, want ErrNotFound", err)
	}

	if err := st.DismissWebhookEvent(ctx, res[1].EventID, "test payment", admin("webhook.dismiss")); err != nil {
		t.Fatal(err)
	}
	if err := st.DismissWebhookEvent(ctx, res[1].EventID, "", admin("webhook.dismiss")); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("dismissing twice: %v, want ErrConflict", err)
	}
	if e, _ := st.WebhookEventByID(ctx, res[1].EventID); e.Outcome != paylink.OutcomeDismissed || !strings.Contains(e.Detail, "test payment") {
		t.Fatalf("dismissed event %+v", e)
	}

	// Re-applying the applied event changes nothing and it stays applied.
	before := len(webhookLines(t, st, l.ID))
	act, err = st.ReapplyWebhookEvent(ctx, res[0].EventID, orphan.Event, admin("webhook.reapply"))
	if err != nil {
		t.Fatal(err)
	}
	if act.Outcome != paylink.OutcomeApplied || linkNow(t, st, l.ID).Status != paylink.StatusPaid {
		t.Fatalf("re-apply: %+v", act)
	}
	lines := webhookLines(t, st, l.ID)
	if len(lines) != before+1 || !strings.HasPrefix(lines[len(lines)-1].Message, "Re-applied by an admin: ") {
		t.Fatalf("re-apply timeline %+v", lines[before:])
	}
	entries, _ := st.ListAudit(ctx, 50)
	for _, want := range []string{"webhook.assign", "webhook.dismiss", "webhook.reapply"} {
		found := false
		for _, e := range entries {
			found = found || (e.Action == want && e.ActorID == u)
		}
		if !found {
			t.Errorf("%s not audited", want)
		}
	}
}

func TestReapplyMatchesAfresh(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := whUser(t, st)
	l := whLink(t, st, u, "", "INV-LATE", time.Time{}) // still creating: no session reference yet
	d := whEvent("early", paylink.EffectProcessing, db.Link{})
	d.Event.SessionID, d.Event.IdempotencyKey, d.Event.DepositReference, d.Event.WebsiteReference = "HS-LATE", "", "", ""
	r := ingest(t, st, d)[0]
	if r.Outcome != paylink.OutcomeUnmatched {
		t.Fatalf("%+v", r)
	}
	if err := st.CompleteLinkCreation(ctx, l.ID, "HS-LATE", "https://checkout.example/x", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	act, err := st.ReapplyWebhookEvent(ctx, r.EventID, d.Event, db.AuditEntry{ActorID: u, Action: "webhook.reapply"})
	if err != nil {
		t.Fatal(err)
	}
	if act.LinkID != l.ID || act.Outcome != paylink.OutcomeApplied || linkNow(t, st, l.ID).Status != paylink.StatusProcessing {
		t.Fatalf("re-apply: %+v", act)
	}
}

func TestWebhookEventsAreNeverDeletedOrRewritten(t *testing.T) {
	st := mustOpenDB(t)
	ingest(t, st, db.WebhookDelivery{BodySHA256: "h", Event: db.WebhookEventData{Key: "k", Family: "v2", Body: []byte("{}")}})
	raw := rawDB(t, st)
	for _, q := range []string{"DELETE FROM webhook_deliveries", "UPDATE webhook_deliveries SET body = x'00'",
		"UPDATE webhook_deliveries SET event_key = 'x'", "UPDATE webhook_deliveries SET signature = 'forged'"} {
		if _, err := raw.Exec(q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	for _, q := range []string{
		"INSERT INTO webhook_deliveries (received_at, kind, body_sha256, body_size) VALUES (1, 'event', '', 0)",
		"INSERT INTO webhook_deliveries (received_at, kind, body_sha256, body_size) VALUES (1, 'duplicate', '', 0)",
		"INSERT INTO webhook_deliveries (received_at, kind, body_sha256, body_size, event_key) VALUES (1, 'rejected', '', 0, 'k2')",
	} {
		if _, err := raw.Exec(q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	if _, err := raw.Exec("UPDATE webhook_deliveries SET outcome = 'dismissed'"); err != nil {
		t.Errorf("an event's outcome cannot change: %v", err)
	}
}

func TestAFailedBatchStoresNothing(t *testing.T) {
	st := mustOpenDB(t)
	l := whLink(t, st, whUser(t, st), "HS-F", "INV-F", time.Now().Add(time.Hour))
	raw := rawDB(t, st)
	if _, err := raw.Exec(`CREATE TRIGGER boom BEFORE INSERT ON webhook_deliveries WHEN NEW.event_key = 'boom'
		BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := st.IngestWebhooks(context.Background(), []db.WebhookDelivery{whEvent("fine", paylink.EffectPaid, l), whEvent("boom", paylink.EffectSettled, l)})
	if err == nil {
		t.Fatal("batch succeeded")
	}
	if got := linkNow(t, st, l.ID); got.Status != paylink.StatusOpen || len(webhookLines(t, st, l.ID)) != 0 {
		t.Fatalf("half a batch was kept: %s", got.Status)
	}
	page, _ := st.ListWebhookDeliveries(context.Background(), db.WebhookFilter{})
	if len(page.Rows) != 0 {
		t.Fatalf("%d deliveries kept", len(page.Rows))
	}
}

func TestExpireLinksMovesOnlyOverdueOpenLinks(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := whUser(t, st)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	overdue := whLink(t, st, u, "HS-E1", "E1", now.Add(-time.Minute))
	exact := whLink(t, st, u, "HS-E2", "E2", now)
	future := whLink(t, st, u, "HS-E3", "E3", now.Add(time.Minute))
	busy := whLink(t, st, u, "HS-E4", "E4", now.Add(-time.Hour))
	ingest(t, st, whEvent("busy", paylink.EffectProcessing, busy))

	n, err := st.ExpireLinks(ctx, now, 1)
	if err != nil || n != 1 {
		t.Fatalf("first batch of one: %d, %v", n, err)
	}
	if n, err = st.ExpireLinks(ctx, now, 100); err != nil || n != 1 {
		t.Fatalf("second batch: %d, %v", n, err)
	}
	for _, c := range []struct {
		l    db.Link
		want paylink.Status
	}{{overdue, paylink.StatusExpired}, {exact, paylink.StatusExpired}, {future, paylink.StatusOpen}, {busy, paylink.StatusProcessing}} {
		if got := linkNow(t, st, c.l.ID).Status; got != c.want {
			t.Errorf("link %s: %s, want %s", c.l.SMReference, got, c.want)
		}
	}
	tl, _ := st.LinkTimeline(ctx, overdue.ID)
	if last := tl[len(tl)-1]; last.Kind != "expired" || !strings.Contains(last.Message, "open → expired") {
		t.Errorf("timeline %+v", last)
	}
}

// rawDB opens a second writer on the store's file, for what the store
// cannot do: add a failing trigger, try forbidden writes.
func rawDB(t *testing.T, st *db.Store) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", db.DSN(st.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestWebhookWriterReusesItsStatements(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := whUser(t, st)
	a := whLink(t, st, u, "HS-W1", "W1", time.Now().Add(time.Hour))
	b := whLink(t, st, u, "HS-W2", "W2", time.Now().Add(time.Hour))
	w, err := st.NewWebhookWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, effect := range []paylink.Effect{paylink.EffectProcessing, paylink.EffectPaid, paylink.EffectSettled} {
		res, err := w.IngestWebhooks(ctx, []db.WebhookDelivery{
			whEvent(fmt.Sprintf("w-a-%d", i), effect, a), whEvent(fmt.Sprintf("w-b-%d", i), effect, b),
			whEvent(fmt.Sprintf("w-a-%d", i), effect, a), // a duplicate within the batch
			{BodySHA256: "x", RejectReason: "bad signature"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Outcome != paylink.OutcomeApplied || res[1].Outcome != paylink.OutcomeApplied || !res[2].Duplicate || res[3].Outcome != db.DeliveryRejected {
			t.Fatalf("batch %d: %+v", i, res)
		}
	}
	for _, l := range []db.Link{a, b} {
		if got := linkNow(t, st, l.ID); got.Status != paylink.StatusSettled || got.SMSessionID != l.SMReference {
			t.Fatalf("link %d: %s %q", l.ID, got.Status, got.SMSessionID)
		}
	}
	// The store's own path works beside the writer's.
	if _, err := st.IngestWebhooks(ctx, []db.WebhookDelivery{whEvent("after", paylink.EffectPaid, a)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ListWebhookDeliveries(ctx, db.WebhookFilter{Outcome: "bogus"}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown outcome filter: %v", err)
	}
	types, err := st.WebhookEventTypes(ctx)
	if err != nil || len(types) != 3 {
		t.Fatalf("types %v, %v", types, err)
	}
}

func TestOldRefusedAttemptsArePrunedEverythingElseKept(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	old := db.WebhookDelivery{ReceivedAt: t0, IP: "203.0.113.9", BodySHA256: "old", BodySize: 1, RejectReason: "bad signature"}
	recent := db.WebhookDelivery{ReceivedAt: t0.Add(40 * 24 * time.Hour), IP: "203.0.113.9", BodySHA256: "new", BodySize: 1, RejectReason: "stale timestamp"}
	ev := whEvent("evt-old", paylink.EffectNone, db.Link{})
	ev.ReceivedAt = t0
	ingest(t, st, old, recent, ev)
	cut := t0.Add(40*24*time.Hour - db.RejectedRetention)
	if n, err := st.PruneRejectedWebhooks(ctx, cut, 100); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the one old refused attempt", n, err)
	}
	page, err := st.ListWebhookDeliveries(ctx, db.WebhookFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range page.Rows {
		left = append(left, r.BodySHA256)
	}
	if strings.Join(left, ",") != "new,sha-evt-old" && strings.Join(left, ",") != "sha-evt-old,new" {
		t.Fatalf("deliveries left %v, want the recent refusal and the old event", left)
	}
	if n, _ := st.PruneRejectedWebhooks(ctx, cut, 100); n != 0 {
		t.Fatalf("second prune deleted %d", n)
	}
}

// TestRebuiltWebhookTableKeepsEveryDelivery: migration 0011 rebuilds
// webhook_deliveries (its CHECKs without IN lists). Every delivery stored
// before it is kept as it was, ids included; the rebuilt table enforces
// what the old one did, its foreign key names itself, and ingesting goes
// on, a resent old event still a duplicate.
func TestRebuiltWebhookTableKeepsEveryDelivery(t *testing.T) {
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	before := fstest.MapFS{}
	names, _ := fs.Glob(migrations.FS, "*.sql")
	for _, n := range names {
		// Every migration but 0011's rebuild: later ones (links columns)
		// are what today's code reads links with.
		if !strings.HasPrefix(n, "0011") {
			b, _ := fs.ReadFile(migrations.FS, n)
			before[n] = &fstest.MapFile{Data: b}
		}
	}
	if _, err := st.Migrate(ctx, before); err != nil {
		t.Fatal(err)
	}
	l := whLink(t, st, whUser(t, st), "SM-MIG", "W-MIG", time.Now().Add(time.Hour))
	ingest(t, st, whEvent("mig-1", paylink.EffectProcessing, l), whEvent("mig-1", paylink.EffectProcessing, l),
		whEvent("mig-2", paylink.EffectPaid, l), db.WebhookDelivery{BodySHA256: "h", RejectReason: "bad_signature", IP: "192.0.2.9"},
		db.WebhookDelivery{BodySHA256: "u", Event: db.WebhookEventData{Key: "mig-u", Family: "unknown", Body: []byte("not json")}})
	raw := rawDB(t, st)
	dump := func() [][]any {
		rows, err := raw.Query("SELECT * FROM webhook_deliveries ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, vals)
		}
		return out
	}
	was := dump()
	if len(was) != 5 {
		t.Fatalf("%d deliveries before the migration", len(was))
	}
	if applied, err := st.Migrate(ctx, migrations.FS); err != nil || !slices.Contains(applied, "0011_webhook_checks.sql") {
		t.Fatalf("migrate: %v %v", applied, err)
	}
	if now := dump(); fmt.Sprint(now) != fmt.Sprint(was) {
		t.Fatalf("deliveries changed:\n was %v\n now %v", was, now)
	}
	var table string
	if err := raw.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'webhook_deliveries'").Scan(&table); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table, " IN (") || strings.Contains(table, "webhook_deliveries_new") {
		t.Errorf("rebuilt table:\n%s", table)
	}
	var problems int
	if err := raw.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&problems); err != nil || problems != 0 {
		t.Errorf("foreign key check: %d problems, %v", problems, err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check: %q %v", check, err)
	}
	for _, q := range []string{
		"INSERT INTO webhook_deliveries (received_at, kind, body_sha256, body_size) VALUES (1, 'bogus', '', 0)",
		"UPDATE webhook_deliveries SET outcome = 'bogus' WHERE event_key = 'mig-2'",
		"UPDATE webhook_deliveries SET effect = 'bogus' WHERE event_key = 'mig-2'",
		"UPDATE webhook_deliveries SET family = 'bogus' WHERE event_key = 'mig-2'",
		"INSERT INTO webhook_deliveries (received_at, kind, event_id, body_sha256, body_size) VALUES (1, 'duplicate', 999, '', 0)",
		"DELETE FROM webhook_deliveries WHERE event_key = 'mig-1'",
		"UPDATE webhook_deliveries SET signature = 'forged' WHERE event_key = 'mig-1'",
	} {
		if _, err := raw.Exec(q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	if _, err := raw.Exec("DELETE FROM webhook_deliveries WHERE kind = 'rejected'"); err != nil {
		t.Errorf("refused attempts can no longer be pruned: %v", err)
	}
	res := ingest(t, st, whEvent("mig-2", paylink.EffectPaid, l), whEvent("mig-3", paylink.EffectSettled, l))
	if !res[0].Duplicate || res[1].Duplicate || res[1].Outcome != paylink.OutcomeApplied {
		t.Fatalf("after the migration: %+v", res)
	}
	if types, err := st.WebhookEventTypes(ctx); err != nil || !slices.Contains(types, "partner.customer.deposit."+string(paylink.EffectSettled)) {
		t.Errorf("event types after the migration: %v %v", types, err)
	}
	if ev, err := st.WebhookEventByID(ctx, res[1].EventID); err != nil || ev.Key != "mig-3" {
		t.Errorf("the webhook_events view: %+v %v", ev, err)
	}
	if n := 0; raw.QueryRow("SELECT count(*) FROM webhook_events").Scan(&n) != nil || n != 4 { // mig-1, mig-2, mig-u, mig-3
		t.Errorf("webhook_events view lists %d events, want 4", n)
	}
}
