package db

import (
	"fmt"
	"strconv"
	"strings"
)

// Effects of an event on its link, named as the provider package names them
// (db does not import it; handlers translate).
const (
	EffectNone       = "none"
	EffectProcessing = "processing"
	EffectPaid       = "paid"
	EffectSettled    = "settled"
	EffectFailed     = "failed"
)

// statusRank orders the statuses an event moves forward through. creating
// and error sit below open: StableMint may report a payment for a session
// whose create answer never reached us. failed and expired are not ranked:
// decide handles them on their own.
var statusRank = map[string]int{
	StatusCreating: 0, StatusError: 0, StatusOpen: 1, StatusProcessing: 2, StatusPaid: 3, StatusSettled: 4,
}

// linkState is what the rules need to know about a link.
type linkState struct {
	id              int64
	status          string
	amountMinor     int64
	currency        string
	sessionID       string
	depositRef      string
	paidAfterExpiry bool
	needsReview     bool
}

// decision is what one event does to one link.
type decision struct {
	to              string // the new status; "" keeps the current one
	paidAfterExpiry bool   // set the link's paid-after-expiry flag
	review          bool   // set the link's needs-review flag
	outcome         string // the event's outcome
	message         string // the link's timeline line, for staff
}

// effectPhrase says what an applied effect means, in staff's words.
var effectPhrase = map[string]string{
	EffectProcessing: "Payment in progress at StableMint",
	EffectPaid:       "Payment accepted by StableMint",
	EffectSettled:    "Payment settled by StableMint",
	EffectFailed:     "Payment failed at StableMint",
}

// decide applies the contract's rules (stablemint-api.md, "Event to link
// status") to one event for one link:
//
//   - status only moves forward: open < processing < paid < settled, with
//     creating and error below open;
//   - failed ends a link not yet paid, and a failure never undoes a payment;
//   - a payment event on an expired link moves it to paid (or settled) and
//     flags it "paid after expiry"; other events leave an expired link alone;
//   - an event whose amount or currency differs from the link's is flagged
//     for review and never moves the link to paid or settled; a payment event
//     without a readable amount is treated the same way;
//   - own pick: a payment event on a failed link does not revive it on its
//     own (failed ends a link) but is flagged for review, so an admin can
//     accept it as paid: money that arrived is never silently ignored;
//   - an event of a type that acts on no link changes nothing.
//
// Every event gets exactly one timeline line, saying what it changed or why
// it changed nothing. decide is pure: the store applies its result.
func decide(l linkState, ev WebhookEventData) decision {
	from := l.status
	name := quoteType(ev)
	if ev.Effect == EffectNone || ev.Effect == "" {
		return decision{outcome: OutcomeNoChange,
			message: fmt.Sprintf("StableMint sent %s, which does not change a link's status.", name)}
	}
	target := ev.Effect // the effect names its status
	payment := ev.Effect == EffectPaid || ev.Effect == EffectSettled
	mismatch := amountMismatch(l, ev)

	eff, typ, say := quoteEffect(ev.Effect), ev.Type, fmt.Sprintf
	var d decision
	switch {
	case payment && mismatch != "":
		d.review = true
		d.message = say("%s not applied (%s): %s. Status stays %s; flagged for an admin to accept as paid or leave.",
			eff, typ, mismatch, from)
	case from == StatusFailed && payment:
		d.review = true
		d.message = say("%s not applied (%s): the link had already failed. Flagged for an admin to accept as paid or leave.",
			eff, typ)
	case from == StatusFailed:
		d.message = say("Late %s ignored (%s): the link has already failed.", eff, typ)
	case from == StatusExpired && payment:
		d.to, d.paidAfterExpiry = target, true
		d.message = say("%s (%s) after the link had expired: %s → %s. Flagged as paid after expiry.",
			effectPhrase[ev.Effect], typ, from, target)
	case from == StatusExpired:
		d.message = say("Noted %s (%s): the link has expired; only a payment event changes it now.", eff, typ)
	case ev.Effect == EffectFailed && statusRank[from] >= statusRank[StatusPaid]:
		d.message = say("Late %s ignored (%s): the link is already %s; a failure cannot undo a payment.", eff, typ, from)
	case ev.Effect == EffectFailed || statusRank[target] > statusRank[from]:
		d.to = target
		d.message = say("%s (%s): %s → %s.", effectPhrase[ev.Effect], typ, from, target)
	case target == from:
		d.message = say("No change from %s (%s): the link is already %s.", eff, typ, from)
	default:
		d.message = say("Late %s ignored (%s): the link is already %s.", eff, typ, from)
	}
	if mismatch != "" && !d.review {
		// A non-payment event with another amount or currency still follows
		// the rules above, and is flagged.
		d.review = true
		d.message += " " + mismatch + ": flagged for review."
	}
	switch {
	case d.review:
		d.outcome = OutcomeNeedsReview
	case d.to != "":
		d.outcome = OutcomeApplied
	default:
		d.outcome = OutcomeNoChange
	}
	return d
}

// amountMismatch says how the event's money differs from the link's, or ""
// when it agrees. A payment event must carry a readable amount; other events
// are only compared when they carry one.
func amountMismatch(l linkState, ev WebhookEventData) string {
	payment := ev.Effect == EffectPaid || ev.Effect == EffectSettled
	switch {
	case ev.Currency != "" && ev.Currency != l.currency:
		return fmt.Sprintf("StableMint reports %s, the link is in %s", sent(ev), l.currency)
	case ev.AmountKnown && ev.AmountMinor != l.amountMinor:
		return fmt.Sprintf("StableMint reports %s, the link is for %s %s", sent(ev), formatMinor(l.amountMinor, ev.Exponent), l.currency)
	case payment && (!ev.AmountKnown || ev.Currency == ""):
		return "the event carries no readable amount and currency (" + sent(ev) + ")"
	}
	return ""
}

// sent is the event's amount as StableMint wrote it.
func sent(ev WebhookEventData) string {
	s := strings.TrimSpace(ev.AmountRaw + " " + ev.Currency)
	if s == "" {
		return "none"
	}
	return s
}

// formatMinor writes minor units with exp decimals: (950, 2) is "9.50".
func formatMinor(minor int64, exp int) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
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

func quoteEffect(effect string) string { return "'" + effect + "'" }

func quoteType(ev WebhookEventData) string {
	if ev.Type == "" {
		return "an event without a type"
	}
	return "'" + ev.Type + "'"
}
