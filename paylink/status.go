// Package paylink holds the words of paylinks' domain and the rules that
// use nothing but them: a link's Status, what a StableMint event does to a
// link (Effect, Decide), how an event finds its link (Match), and the
// staff Roles. It imports only the standard library, so every other
// package (db included) can speak these words; the rules are pure
// functions, tested by table and by property in this package.
//
// docs/architecture.md shows where the rules run; docs/stablemint.md
// ("Event to link status") states them as a contract.
package paylink

// Status is where a link is in its life. creating, error, open and expired
// are set by paylinks itself, cancelled by staff; processing, paid, settled
// and failed only by StableMint's webhooks.
type Status string

// The link statuses.
const (
	StatusCreating   Status = "creating"   // committed; StableMint not yet answered
	StatusError      Status = "error"      // StableMint did not create the checkout session
	StatusOpen       Status = "open"       // the checkout link can be paid
	StatusProcessing Status = "processing" // the customer is paying
	StatusPaid       Status = "paid"       // StableMint accepted the payment
	StatusSettled    Status = "settled"    // the money reached the merchant
	StatusFailed     Status = "failed"     // the payment failed; the link is finished
	StatusExpired    Status = "expired"    // the checkout session ran out unpaid
	StatusCancelled  Status = "cancelled"  // staff withdrew it; StableMint's checkout may still take a payment until it expires
)

// Statuses lists every status in the order of a link's life.
var Statuses = []Status{StatusCreating, StatusError, StatusOpen, StatusProcessing, StatusPaid, StatusSettled,
	StatusFailed, StatusExpired, StatusCancelled}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Effect is what a StableMint event type means for a link: the status it
// reports, or none.
type Effect string

// The effects. Each but EffectNone names the status it reports.
const (
	EffectNone       Effect = "none"
	EffectProcessing Effect = "processing"
	EffectPaid       Effect = "paid"
	EffectSettled    Effect = "settled"
	EffectFailed     Effect = "failed"
)

// Payment reports whether the effect says money was accepted.
func (e Effect) Payment() bool { return e == EffectPaid || e == EffectSettled }

// Outcome is what one verified event did. Admins filter events by it.
type Outcome string

// The event outcomes.
const (
	OutcomeApplied     Outcome = "applied"      // it moved its link's status
	OutcomeNoChange    Outcome = "no_change"    // it changed no status (late, repeated, or a type that acts on no link)
	OutcomeNeedsReview Outcome = "needs_review" // amount or currency differs, or a payment after failure: an admin decides
	OutcomeUnmatched   Outcome = "unmatched"    // no link, or several: an admin assigns or dismisses it
	OutcomeUnparsable  Outcome = "unparsable"   // verified, but not a JSON object
	OutcomeDismissed   Outcome = "dismissed"    // an unmatched event an admin set aside
)

// Role is what a staff account may do, from least to most privileged.
type Role string

// The roles.
const (
	RoleViewer  Role = "viewer"  // sees links, acts on none
	RoleFinance Role = "finance" // creates, retries and emails links
	RoleAdmin   Role = "admin"   // also manages staff, settings and webhook events
)

// Roles lists the roles from least to most privileged.
var Roles = []Role{RoleViewer, RoleFinance, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleFinance || r == RoleAdmin }

// AtLeast reports whether r holds every right of min.
func (r Role) AtLeast(min Role) bool { return rank(r) >= rank(min) && rank(min) >= 0 }

func rank(r Role) int {
	for i, v := range Roles {
		if r == v {
			return i
		}
	}
	return -1
}

// Reissuable reports whether a link in status s may be re-issued: a new
// link with the same details, because this one can no longer be paid
// (expired, failed, cancelled, or never created at StableMint).
func (s Status) Reissuable() bool {
	return s == StatusExpired || s == StatusFailed || s == StatusError || s == StatusCancelled
}

// Cancellable reports whether staff may cancel a link in status s: one
// that may still be paid or still be created. A creating link is not (its
// mint is in flight; it is error or open in seconds), nor one that has
// ended: paid, settled, failed, expired. Cancelling a cancelled link is
// harmless and changes nothing; Cancel says so rather than refusing.
func (s Status) Cancellable() bool {
	return s == StatusError || s == StatusOpen || s == StatusProcessing
}
