package db

import (
	"context"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/paylink"
)

// outboundFixture is a store with an admin, an endpoint for link.opened
// and link.paid, and an open link (its link.opened message queued).
func outboundFixture(t *testing.T) (*Store, OutboundEndpoint, Link) {
	t.Helper()
	s := OpenTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Email: "a@example.com", Name: "A", Role: paylink.RoleAdmin, PasswordHash: "x"}, AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.CreateOutboundEndpoint(ctx, NewOutboundEndpoint{URL: "https://hooks.example.com/", Types: []string{"link.opened", "link.paid"},
		Secret: "whsec_c2VjcmV0", CreatedBy: u.ID}, AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := s.CreateLink(ctx, NewLink{IdempotencyKey: "k1", CustomerID: "C", CustomerEmail: "c@example.com", Country: "DE",
		AmountMinor: 100, AmountText: "1.00", Currency: "EUR", SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e",
		ErrorURL: "https://x/r", CreatedBy: u.ID, AllowDuplicate: true}, AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteLinkCreation(ctx, l.ID, "SM-1", "https://checkout.example/SM-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return s, ep, l
}

// failAll claims every due message and fails it for good.
func failAll(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for {
		ms, err := s.ClaimOutbound(ctx, 10, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return
		}
		var outs []OutboundOutcome
		for _, m := range ms {
			outs = append(outs, OutboundOutcome{Message: m, Attempt: OutboundAttempt{At: s.Now(), HTTPStatus: 500, Error: "the endpoint answered 500"}})
		}
		if _, err := s.RecordOutbound(ctx, outs); err != nil {
			t.Fatal(err)
		}
	}
}

// A replay takes the same picture of a link as the triggers do (the
// migration's snapshot and linkSnapshotSQL are kept alike), with the
// link's state at the replay.
func TestReplaySnapshotMatchesTheTriggers(t *testing.T) {
	s, ep, _ := outboundFixture(t)
	ctx := context.Background()
	failAll(t, s) // link.opened, failed
	plan, err := s.ReplayOutbound(ctx, OutboundFilter{EndpointID: ep.ID}, true, AuditEntry{Action: "test"})
	if err != nil || plan != (ReplayPlan{Failed: 1, Messages: 1, Links: 1}) {
		t.Fatalf("dry run: %+v, %v", plan, err)
	}
	if n, _ := s.OutboundPending(ctx); n != 0 {
		t.Fatalf("the dry run queued %d messages", n)
	}
	if _, err := s.ReplayOutbound(ctx, OutboundFilter{EndpointID: ep.ID}, false, AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.OutboundMessages(ctx, OutboundFilter{EndpointID: ep.ID})
	if err != nil || len(ms) != 2 {
		t.Fatalf("%d messages, %v", len(ms), err)
	}
	replay, opened := ms[0], ms[1]
	if !replay.Replay || replay.Type != "link.opened" || replay.MsgID == opened.MsgID || opened.ReplayedAs != replay.ID {
		t.Fatalf("replay %+v of %+v", replay, opened)
	}
	if replay.Snapshot != opened.Snapshot {
		t.Errorf("the replay's snapshot differs from the trigger's for the same state:\n%s\n%s", replay.Snapshot, opened.Snapshot)
	}
	snap, err := replay.ParseSnapshot()
	if err != nil || snap.Link == nil || snap.Link.Status != "open" || snap.Link.SMReference != "SM-1" {
		t.Errorf("the snapshot reads %+v, %v", snap.Link, err)
	}
	// Nothing left to replay.
	if plan, _ := s.ReplayOutbound(ctx, OutboundFilter{EndpointID: ep.ID}, true, AuditEntry{Action: "test"}); plan.Failed != 0 {
		t.Errorf("a second dry run finds %+v", plan)
	}
}

// Resend makes a finished message pending again, the same message; a
// pending one is refused.
func TestResendKeepsTheMessage(t *testing.T) {
	s, _, _ := outboundFixture(t)
	ctx := context.Background()
	ms, _ := s.OutboundMessages(ctx, OutboundFilter{})
	if err := s.ResendOutbound(ctx, ms[0].ID, AuditEntry{Action: "test"}); err != ErrConflict {
		t.Errorf("resending a pending message: %v, want ErrConflict", err)
	}
	failAll(t, s)
	if err := s.ResendOutbound(ctx, ms[0].ID, AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.OutboundMessageByID(ctx, ms[0].ID)
	if err != nil || m.Status != OutboundPending || m.MsgID != ms[0].MsgID || m.Attempts != 1 {
		t.Errorf("after Resend: %+v, %v", m, err)
	}
	if err := s.ResendOutbound(ctx, 999, AuditEntry{Action: "test"}); err != ErrNotFound {
		t.Errorf("resending no message: %v", err)
	}
}

// A lost lease (the message was claimed again after it expired) makes a
// late outcome change nothing.
func TestALateOutcomeAfterALostLeaseChangesNothing(t *testing.T) {
	s, _, _ := outboundFixture(t)
	clock := testkit.NewClock(time.Now())
	s.Now = clock.Now
	ctx := context.Background()
	first, err := s.ClaimOutbound(ctx, 1, 1, time.Minute)
	if err != nil || len(first) != 1 {
		t.Fatalf("%v %v", first, err)
	}
	clock.Advance(2 * time.Minute) // the lease runs out: its worker died
	second, err := s.ClaimOutbound(ctx, 1, 1, time.Minute)
	if err != nil || len(second) != 1 || second[0].ID != first[0].ID {
		t.Fatalf("reclaim: %v %v", second, err)
	}
	if _, err := s.RecordOutbound(ctx, []OutboundOutcome{{Message: first[0], Delivered: true, Attempt: OutboundAttempt{At: s.Now(), HTTPStatus: 200}}}); err != nil {
		t.Fatal(err)
	}
	m, _ := s.OutboundMessageByID(ctx, first[0].ID)
	if m.Status != OutboundPending || m.Attempts != 2 {
		t.Errorf("after the late outcome: %s, %d attempts", m.Status, m.Attempts)
	}
}
