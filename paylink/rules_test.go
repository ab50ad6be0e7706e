package paylink

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomCase draws a link and an event from small sets, so every
// combination of status, effect, amount and currency comes up often.
func randomCase(r *rand.Rand) (LinkState, Event) {
	effects := []Effect{EffectNone, EffectProcessing, EffectPaid, EffectSettled, EffectFailed, ""}
	l := LinkState{ID: 1, Status: Statuses[r.IntN(len(Statuses))], AmountMinor: 950, Currency: "EUR"}
	ev := Event{Type: "t", Effect: effects[r.IntN(len(effects))], Exponent: 2}
	switch r.IntN(4) {
	case 0: // agrees
		ev.AmountRaw, ev.AmountMinor, ev.AmountKnown, ev.Currency = "9.50", 950, true, "EUR"
	case 1: // another amount
		ev.AmountRaw, ev.AmountMinor, ev.AmountKnown, ev.Currency = "9.00", 900, true, "EUR"
	case 2: // another currency
		ev.AmountRaw, ev.AmountMinor, ev.AmountKnown, ev.Currency = "9.50", 950, true, "USD"
	}
	return l, ev
}

// TestDecideProperties checks the rules that must hold for every link and
// event, whatever the table above lists.
func TestDecideProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		l, ev := randomCase(r)
		d := Decide(l, ev)
		c := string(l.Status) + " + " + string(ev.Effect) + " " + ev.AmountRaw + " " + ev.Currency
		if d.Message == "" || strings.Contains(d.Message, "\n") {
			t.Fatalf("%s: timeline line %q is empty or not one line", c, d.Message)
		}
		want := OutcomeNoChange
		if d.Review {
			want = OutcomeNeedsReview
		} else if d.To != "" {
			want = OutcomeApplied
		}
		if d.Outcome != want {
			t.Fatalf("%s: outcome %s, want %s", c, d.Outcome, want)
		}
		if d.To != "" && d.To != StatusFailed && l.Status != StatusExpired && l.Status != StatusCancelled &&
			statusRank[d.To] <= statusRank[l.Status] {
			t.Fatalf("%s: moved backwards or sideways to %s", c, d.To)
		}
		if d.To == StatusFailed && (l.Status == StatusPaid || l.Status == StatusSettled) {
			t.Fatalf("%s: a failure undid a payment", c)
		}
		if l.Status == StatusFailed && d.To != "" {
			t.Fatalf("%s: a failed link moved to %s", c, d.To)
		}
		if l.Status == StatusExpired && d.To != "" && (!ev.Effect.Payment() || !d.PaidAfterExpiry) {
			t.Fatalf("%s: an expired link moved to %s without a flagged payment", c, d.To)
		}
		if l.Status == StatusCancelled && d.To != "" && (!ev.Effect.Payment() || !d.PaidAfterCancel) {
			t.Fatalf("%s: a cancelled link moved to %s without a flagged payment", c, d.To)
		}
		if d.PaidAfterCancel != (l.Status == StatusCancelled && d.To != "") {
			t.Fatalf("%s: paid-after-cancel flag %v on a move from %s to %q", c, d.PaidAfterCancel, l.Status, d.To)
		}
		if (d.To == StatusPaid || d.To == StatusSettled) && (ev.Currency != l.Currency || ev.AmountMinor != l.AmountMinor || !ev.AmountKnown) {
			t.Fatalf("%s: paid with money that does not match the link", c)
		}
		if d.To != "" {
			// The same event again changes nothing: deliveries are idempotent.
			l2 := l
			l2.Status = d.To
			if again := Decide(l2, ev); again.To != "" {
				t.Fatalf("%s: the same event again moved %s to %s", c, d.To, again.To)
			}
		}
	}
}

func TestMatchFollowsTheContractOrder(t *testing.T) {
	one := []LinkState{{ID: 1}}
	two := []LinkState{{ID: 2}, {ID: 3}}
	all := Identifiers{IdempotencyKey: "k", SessionID: "s", WebsiteReference: "INV-1"}
	cases := []struct {
		name   string
		ids    Identifiers
		found  map[MatchBy][]LinkState
		want   int64 // 0: no match
		why    string
		called []MatchBy
	}{
		{"the key wins first", all, map[MatchBy][]LinkState{ByIdempotencyKey: one, BySession: two}, 1, "", []MatchBy{ByIdempotencyKey}},
		{"the session when the key finds none", all, map[MatchBy][]LinkState{BySession: {{ID: 7}}}, 7, "", []MatchBy{ByIdempotencyKey, BySession}},
		{"the website reference last", all, map[MatchBy][]LinkState{ByWebsiteReference: {{ID: 9}}}, 9, "",
			[]MatchBy{ByIdempotencyKey, BySession, ByWebsiteReference}},
		{"an ambiguous step does not win, a later one may", all, map[MatchBy][]LinkState{BySession: two, ByWebsiteReference: one}, 1, "",
			[]MatchBy{ByIdempotencyKey, BySession, ByWebsiteReference}},
		{"ambiguous everywhere names the steps", all, map[MatchBy][]LinkState{BySession: two, ByWebsiteReference: two}, 0,
			`Ambiguous: sessionId/reference and websiteReference "INV-1" match more than one link`, []MatchBy{ByIdempotencyKey, BySession, ByWebsiteReference}},
		{"nothing found", all, nil, 0, "No link has this event's idempotencyKey", []MatchBy{ByIdempotencyKey, BySession, ByWebsiteReference}},
		{"a deposit reference alone is a session step", Identifiers{DepositReference: "D"}, map[MatchBy][]LinkState{BySession: one}, 1, "", []MatchBy{BySession}},
		{"no identifiers asks nothing", Identifiers{}, nil, 0, "No link", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var called []MatchBy
			l, ok, why, err := Match(c.ids, func(by MatchBy) ([]LinkState, error) {
				called = append(called, by)
				return c.found[by], nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if ok != (c.want != 0) || (ok && l.ID != c.want) {
				t.Fatalf("matched %v (link %d), want link %d", ok, l.ID, c.want)
			}
			if c.why != "" && !strings.Contains(why, c.why) {
				t.Fatalf("why = %q, want it to say %q", why, c.why)
			}
			if !slices.Equal(called, c.called) {
				t.Fatalf("asked %v, want %v", called, c.called)
			}
		})
	}
}

func TestMatchStopsAtAnError(t *testing.T) {
	boom := errors.New("disk")
	calls := 0
	_, ok, _, err := Match(Identifiers{IdempotencyKey: "k", SessionID: "s"}, func(MatchBy) ([]LinkState, error) {
		calls++
		return nil, boom
	})
	if !errors.Is(err, boom) || ok || calls != 1 {
		t.Fatalf("err=%v ok=%v calls=%d, want the error after one call", err, ok, calls)
	}
}

// TestMatchProperty compares Match with the rule stated plainly, on random
// answers: the first applicable step with exactly one link wins.
func TestMatchProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() string { return []string{"", "x"}[r.IntN(2)] }
	for range 5000 {
		ids := Identifiers{IdempotencyKey: pick(), SessionID: pick(), DepositReference: pick(), WebsiteReference: pick()}
		found := map[MatchBy][]LinkState{}
		for _, by := range []MatchBy{ByIdempotencyKey, BySession, ByWebsiteReference} {
			for i := range r.IntN(3) {
				found[by] = append(found[by], LinkState{ID: int64(by)*10 + int64(i)})
			}
		}
		var want int64
		for _, by := range []MatchBy{ByIdempotencyKey, BySession, ByWebsiteReference} {
			applies := map[MatchBy]bool{ByIdempotencyKey: ids.IdempotencyKey != "",
				BySession: ids.SessionID != "" || ids.DepositReference != "", ByWebsiteReference: ids.WebsiteReference != ""}[by]
			if applies && len(found[by]) == 1 {
				want = found[by][0].ID
				break
			}
		}
		l, ok, _, _ := Match(ids, func(by MatchBy) ([]LinkState, error) { return found[by], nil })
		if got := map[bool]int64{true: l.ID}[ok]; got != want {
			t.Fatalf("%+v with %v: matched %d, want %d", ids, found, got, want)
		}
	}
}

func TestRoleAtLeast(t *testing.T) {
	for _, c := range []struct {
		r, min Role
		want   bool
	}{{RoleAdmin, RoleFinance, true}, {RoleFinance, RoleFinance, true}, {RoleViewer, RoleFinance, false},
		{Role("root"), RoleViewer, false}, {RoleAdmin, Role("root"), false}} {
		if got := c.r.AtLeast(c.min); got != c.want {
			t.Errorf("%s.AtLeast(%s) = %v, want %v", c.r, c.min, got, c.want)
		}
	}
}

func TestResolveAnAdminsDecision(t *testing.T) {
	for _, c := range []struct {
		name    string
		from    Status
		effect  Effect
		accept  bool
		to      Status
		expiry  bool
		outcome Outcome
		says    string
	}{
		{"left as is", StatusOpen, EffectPaid, false, "", false, OutcomeNoChange, "left as is; status stays open"},
		{"accepted on an open link", StatusOpen, EffectPaid, true, StatusPaid, false, OutcomeApplied, "open → paid"},
		{"accepted on a failed link revives it", StatusFailed, EffectPaid, true, StatusPaid, false, OutcomeApplied, "failed → paid"},
		{"accepted on an expired link is flagged", StatusExpired, EffectSettled, true, StatusSettled, true, OutcomeApplied, "Flagged as paid after expiry"},
		{"accepted on a cancelled link is flagged", StatusCancelled, EffectPaid, true, StatusPaid, false, OutcomeApplied, "Flagged as paid after cancel"},
		{"accepted on a link already further", StatusSettled, EffectPaid, true, "", false, OutcomeApplied, "already settled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Resolve(LinkState{Status: c.from}, c.effect, "partner.customer.deposit.accepted", c.accept)
			if d.To != c.to || d.PaidAfterExpiry != c.expiry || d.Outcome != c.outcome || !strings.Contains(d.Message, c.says) {
				t.Fatalf("got %+v, want to=%q expiry=%v outcome=%s saying %q", d, c.to, c.expiry, c.outcome, c.says)
			}
		})
	}
}
