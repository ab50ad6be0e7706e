package paylink

import (
	"math"
	"strings"
	"testing"
)

func TestDecideFollowsTheStatusTable(t *testing.T) {
	ev := func(effect Effect) Event {
		return Event{Type: "partner.customer.deposit.x", Effect: effect, AmountRaw: "9.50", Currency: "EUR",
			AmountMinor: 950, AmountKnown: true, Exponent: 2}
	}
	other := func(effect Effect, raw string, minor int64, currency string) Event {
		e := ev(effect)
		e.AmountRaw, e.AmountMinor, e.Currency = raw, minor, currency
		return e
	}
	noAmount := func(effect Effect) Event {
		e := ev(effect)
		e.AmountRaw, e.AmountKnown, e.Currency = "", false, ""
		return e
	}
	cases := []struct {
		name     string
		status   Status
		ev       Event
		to       Status
		expiry   bool
		review   bool
		outcome  Outcome
		contains string
	}{
		{"processing opens the payment", StatusOpen, ev(EffectProcessing), StatusProcessing, false, false, OutcomeApplied, "open → processing"},
		{"paid from open skips processing", StatusOpen, ev(EffectPaid), StatusPaid, false, false, OutcomeApplied, "Payment update: open → paid"},
		{"settled after paid", StatusPaid, ev(EffectSettled), StatusSettled, false, false, OutcomeApplied, "paid → settled"},
		{"paid from creating (answer lost)", StatusCreating, ev(EffectPaid), StatusPaid, false, false, OutcomeApplied, "creating → paid"},
		{"paid from error", StatusError, ev(EffectPaid), StatusPaid, false, false, OutcomeApplied, "error → paid"},
		{"late processing after paid", StatusPaid, ev(EffectProcessing), "", false, false, OutcomeNoChange, "came late and changed nothing"},
		{"late paid after settled", StatusSettled, ev(EffectPaid), "", false, false, OutcomeNoChange, "already settled"},
		{"repeat processing", StatusProcessing, ev(EffectProcessing), "", false, false, OutcomeNoChange, "again: no change"},
		{"failed ends an open link", StatusOpen, ev(EffectFailed), StatusFailed, false, false, OutcomeApplied, "open → failed"},
		{"failed ends a processing link", StatusProcessing, ev(EffectFailed), StatusFailed, false, false, OutcomeApplied, "processing → failed"},
		{"failed cannot undo paid", StatusPaid, ev(EffectFailed), "", false, false, OutcomeNoChange, "cannot undo a payment"},
		{"failed cannot undo settled", StatusSettled, ev(EffectFailed), "", false, false, OutcomeNoChange, "cannot undo a payment"},
		{"processing after failed", StatusFailed, ev(EffectProcessing), "", false, false, OutcomeNoChange, "already failed"},
		{"payment after failed is flagged", StatusFailed, ev(EffectPaid), "", false, true, OutcomeNeedsReview, "had already failed"},
		{"payment after expiry", StatusExpired, ev(EffectPaid), StatusPaid, true, false, OutcomeApplied, "after the link had expired: expired → paid"},
		{"settled after expiry", StatusExpired, ev(EffectSettled), StatusSettled, true, false, OutcomeApplied, "expired → settled"},
		{"processing on expired", StatusExpired, ev(EffectProcessing), "", false, false, OutcomeNoChange, "has expired"},
		{"failed on expired", StatusExpired, ev(EffectFailed), "", false, false, OutcomeNoChange, "has expired"},
		{"payment after cancel", StatusCancelled, ev(EffectPaid), StatusPaid, false, false, OutcomeApplied, "after the link was cancelled: cancelled → paid. Flagged as paid after cancel"},
		{"processing on cancelled", StatusCancelled, ev(EffectProcessing), "", false, false, OutcomeNoChange, "was cancelled"},
		{"failed on cancelled", StatusCancelled, ev(EffectFailed), "", false, false, OutcomeNoChange, "was cancelled"},
		{"paid with another amount on cancelled", StatusCancelled, other(EffectPaid, "1", 100, "EUR"), "", false, true, OutcomeNeedsReview, "Status stays cancelled"},
		{"unknown type", StatusOpen, ev(EffectNone), "", false, false, OutcomeNoChange, "does not change a link's status"},
		{"paid with another amount", StatusOpen, other(EffectPaid, "9.00", 900, "EUR"), "", false, true, OutcomeNeedsReview, "StableMint reports 9.00 EUR, the link is for 9.50 EUR"},
		{"paid in another currency", StatusProcessing, other(EffectPaid, "9.50", 950, "USD"), "", false, true, OutcomeNeedsReview, "the link is in EUR"},
		{"settled with another amount on expired", StatusExpired, other(EffectSettled, "1", 100, "EUR"), "", false, true, OutcomeNeedsReview, "Status stays expired"},
		{"paid without an amount", StatusOpen, noAmount(EffectPaid), "", false, true, OutcomeNeedsReview, "no readable amount"},
		{"processing with another amount moves, flagged", StatusOpen, other(EffectProcessing, "9.00", 900, "EUR"), StatusProcessing, false, true, OutcomeNeedsReview, "flagged for review"},
		{"processing without an amount is fine", StatusOpen, noAmount(EffectProcessing), StatusProcessing, false, false, OutcomeApplied, "open → processing"},
		{"exact amount with trailing zeros", StatusOpen, other(EffectPaid, "9.500", 950, "EUR"), StatusPaid, false, false, OutcomeApplied, "open → paid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := LinkState{ID: 1, Status: c.status, AmountMinor: 950, Currency: "EUR"}
			d := Decide(l, c.ev)
			afterCancel := c.status == StatusCancelled && c.to != ""
			if d.To != c.to || d.PaidAfterExpiry != c.expiry || d.PaidAfterCancel != afterCancel || d.Review != c.review || d.Outcome != c.outcome {
				t.Fatalf("got to=%q expiry=%v review=%v outcome=%s, want to=%q expiry=%v review=%v outcome=%s (%s)",
					d.To, d.PaidAfterExpiry, d.Review, d.Outcome, c.to, c.expiry, c.review, c.outcome, d.Message)
			}
			if !strings.Contains(d.Message, c.contains) {
				t.Fatalf("message %q does not say %q", d.Message, c.contains)
			}
		})
	}
}

func TestFormatMinor(t *testing.T) {
	for _, c := range []struct {
		minor int64
		exp   int
		want  string
	}{{950, 2, "9.50"}, {5, 2, "0.05"}, {1250, 0, "1250"}, {1250, 3, "1.250"}, {7, 3, "0.007"}, {0, 2, "0.00"}, {-950, 2, "-9.50"}, {math.MinInt64, 2, "-92233720368547758.08"}} {
		if got := FormatMinor(c.minor, c.exp); got != c.want {
			t.Errorf("FormatMinor(%d, %d) = %q, want %q", c.minor, c.exp, got, c.want)
		}
	}
}
