package paylink

import (
	"fmt"
	"strconv"
	"strings"
)

// LinkState is what the rules need to know about a link.
type LinkState struct {
	ID              int64
	Status          Status
	AmountMinor     int64
	Currency        string
	SessionID       string // StableMint's sessionId, once an event named it
	DepositRef      string // StableMint's deposit reference, once an event named it
	PaidAfterExpiry bool
	PaidAfterCancel bool
	NeedsReview     bool
}

// Event is what the rules need to know about a verified StableMint event.
type Event struct {
	Type   string // as sent, for the timeline
	Effect Effect
	// AmountRaw and Currency are as sent; AmountMinor is the amount exactly
	// in minor units of Currency when AmountKnown, and Exponent that
	// currency's number of decimals.
	AmountRaw   string
	Currency    string
	AmountMinor int64
	AmountKnown bool
	Exponent    int
}

// Decision is what one event does to one link.
type Decision struct {
	To              Status // the new status; "" keeps the current one
	PaidAfterExpiry bool   // set the link's paid-after-expiry flag
	PaidAfterCancel bool   // set the link's paid-after-cancel flag
	Review          bool   // set the link's needs-review flag
	Outcome         Outcome
	Message         string // the link's timeline line, for staff
}

// statusRank orders the statuses an event moves forward through. creating
// and error sit below open: StableMint may report a payment for a session
// whose create answer never reached us. failed and expired are not ranked:
// Decide handles them on their own.
var statusRank = map[Status]int{
	StatusCreating: 0, StatusError: 0, StatusOpen: 1, StatusProcessing: 2, StatusPaid: 3, StatusSettled: 4,
}

// Decide applies the rules of docs/stablemint.md ("Event to link status")
// to one event for one link:
//
//   - status only moves forward: open < processing < paid < settled, with
//     creating and error below open;
//   - failed ends a link not yet paid, and a failure never undoes a payment;
//   - a payment event on an expired link moves it to paid (or settled) and
//     flags it "paid after expiry"; other events leave an expired link alone;
//   - the same for a cancelled link, flagged "paid after cancel": StableMint
//     cannot close a checkout session, and money that moved is a fact;
//   - an event whose amount or currency differs from the link's is flagged
//     for review and never moves the link to paid or settled; a payment event
//     without a readable amount is treated the same way;
//   - our own pick: a payment event on a failed link does not revive it on
//     its own (failed ends a link) but is flagged for review, so an admin can
//     accept it as paid: money that arrived is never silently ignored;
//   - an event of a type that acts on no link changes nothing.
//
// Every event gets exactly one timeline line, saying what it changed or why
// it changed nothing. The store applies the result.
func Decide(l LinkState, ev Event) Decision {
	from := l.Status
	if ev.Effect == EffectNone || ev.Effect == "" {
		return Decision{Outcome: OutcomeNoChange,
			Message: EventName(ev.Type) + ": this message does not change a link's status."}
	}
	target := Status(ev.Effect) // the effect names its status
	payment := ev.Effect.Payment()
	mismatch := amountMismatch(l, ev)

	// The line names the event in staff's words; its raw type stays on
	// the event, shown to admins (docs/guide.md, "A link's page").
	name, say := EventName(ev.Type), fmt.Sprintf
	var d Decision
	switch {
	case payment && mismatch != "":
		d.Review = true
		d.Message = say("%s, not applied: %s. Status stays %s; flagged for an admin to accept as paid or leave.",
			name, mismatch, from)
	case from == StatusFailed && payment:
		d.Review = true
		d.Message = say("%s, not applied: the link had already failed. Flagged for an admin to accept as paid or leave.", name)
	case from == StatusFailed:
		d.Message = say("%s came late and changed nothing: the link has already failed.", name)
	case from == StatusExpired && payment:
		d.To, d.PaidAfterExpiry = target, true
		d.Message = say("%s after the link had expired: %s → %s. Flagged as paid after expiry.", name, from, target)
	case from == StatusExpired:
		d.Message = say("%s noted: the link has expired; only a payment changes it now.", name)
	case from == StatusCancelled && payment:
		d.To, d.PaidAfterCancel = target, true
		d.Message = say("%s after the link was cancelled: %s → %s. Flagged as paid after cancel.", name, from, target)
	case from == StatusCancelled:
		d.Message = say("%s noted: the link was cancelled; only a payment changes it now.", name)
	case ev.Effect == EffectFailed && statusRank[from] >= statusRank[StatusPaid]:
		d.Message = say("%s came late and changed nothing: the link is already %s; a failure cannot undo a payment.", name, from)
	case ev.Effect == EffectFailed || statusRank[target] > statusRank[from]:
		d.To = target
		d.Message = say("%s: %s → %s.", name, from, target)
	case target == from:
		d.Message = say("%s again: no change, the link is already %s.", name, from)
	default:
		d.Message = say("%s came late and changed nothing: the link is already %s.", name, from)
	}
	if mismatch != "" && !d.Review {
		// A non-payment event with another amount or currency still follows
		// the rules above, and is flagged.
		d.Review = true
		d.Message += " " + mismatch + ": flagged for review."
	}
	switch {
	case d.Review:
		d.Outcome = OutcomeNeedsReview
	case d.To != "":
		d.Outcome = OutcomeApplied
	default:
		d.Outcome = OutcomeNoChange
	}
	return d
}

// amountMismatch says how the event's money differs from the link's, or ""
// when it agrees. A payment event must carry a readable amount; other events
// are only compared when they carry one.
func amountMismatch(l LinkState, ev Event) string {
	switch {
	case ev.Currency != "" && ev.Currency != l.Currency:
		return fmt.Sprintf("StableMint reports %s, the link is in %s", sent(ev), l.Currency)
	case ev.AmountKnown && ev.AmountMinor != l.AmountMinor:
		return fmt.Sprintf("StableMint reports %s, the link is for %s %s", sent(ev), FormatMinor(l.AmountMinor, ev.Exponent), l.Currency)
	case ev.Effect.Payment() && (!ev.AmountKnown || ev.Currency == ""):
		return "the event carries no readable amount and currency (" + sent(ev) + ")"
	}
	return ""
}

// sent is the event's amount as StableMint wrote it.
func sent(ev Event) string {
	s := strings.TrimSpace(ev.AmountRaw + " " + ev.Currency)
	if s == "" {
		return "none"
	}
	return s
}

// FormatMinor writes minor units with exp decimals: (950, 2) is "9.50".
func FormatMinor(minor int64, exp int) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Resolve is an admin's decision on a payment event flagged for review
// (Decide set Review). Left as is, nothing changes. Accepted, the link moves
// to the event's status as far as the forward-only rule allows: a failed or
// expired or cancelled link moves (flagged as paid after expiry or after
// cancel), a link
// already that far along stays. Either way the event's outcome is settled:
// no change when left, applied when accepted.
func Resolve(l LinkState, effect Effect, typ string, accept bool) Decision {
	target := Status(effect)
	switch {
	case !accept:
		return Decision{Outcome: OutcomeNoChange,
			Message: fmt.Sprintf("Review of %q closed by an admin: left as is; status stays %s.", EventName(typ), l.Status)}
	case l.Status != StatusFailed && l.Status != StatusExpired && l.Status != StatusCancelled &&
		statusRank[l.Status] >= statusRank[target]:
		return Decision{Outcome: OutcomeApplied,
			Message: fmt.Sprintf("%s accepted by an admin: the link is already %s.", EventName(typ), l.Status)}
	}
	d := Decision{Outcome: OutcomeApplied, To: target, PaidAfterExpiry: l.Status == StatusExpired,
		PaidAfterCancel: l.Status == StatusCancelled,
		Message:         fmt.Sprintf("%s accepted as paid by an admin: %s → %s.", EventName(typ), l.Status, target)}
	switch {
	case d.PaidAfterExpiry:
		d.Message += " Flagged as paid after expiry."
	case d.PaidAfterCancel:
		d.Message += " Flagged as paid after cancel."
	}
	return d
}
