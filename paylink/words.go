package paylink

import "strings"

// eventNames says in staff's words what a StableMint event type reports.
// The keys are every type stablemint.EffectOf knows (the ones that move a
// link), and the ones the contract names as acting on no link
// (docs/stablemint.md, "Event to link status").
var eventNames = map[string]string{
	"partner.customer.deposit.created":    "Payment started",
	"partner.customer.deposit.initiated":  "Payment started",
	"partner.customer.deposit.submitted":  "Payment submitted",
	"partner.customer.deposit.reconciled": "Payment received",
	"partner.customer.deposit.accepted":   "Payment received",
	"InwardPaymentReconciled":             "Payment received",
	"partner.customer.deposit.completed":  "Settled to your account",
	"partner.customer.deposit.failed":     "Payment failed",
	"InwardPaymentFailed":                 "Payment failed",
	"partner.customer.deposit.refunded":   "Payment refunded",
	"transaction.status.changed":          "Payment status update",
}

// EventName says in plain words what a StableMint event type reports:
// "Payment started" for partner.customer.deposit.created. The raw type
// stays for admins (the events pages show it under a disclosure). A type
// paylinks does not know gets a generic phrase by its kind: a withdrawal,
// a token transfer, or "Message from StableMint".
func EventName(eventType string) string {
	if n, ok := eventNames[eventType]; ok {
		return n
	}
	switch t := strings.ToLower(eventType); {
	case t == "":
		return "Message without an event name"
	case strings.Contains(t, "withdrawal"):
		return "Withdrawal update (not a payment)"
	case strings.Contains(t, "token.transfer"):
		return "Token transfer update (not a payment)"
	case strings.Contains(t, "deposit"):
		return "Payment update"
	}
	return "Message from StableMint"
}

// timelineTitles names the timeline lines paylinks writes itself, by kind.
var timelineTitles = map[string]string{
	"created":   "Link created",
	"answered":  "Checkout link created",
	"held":      "Checkout held for review",
	"error":     "StableMint did not create the checkout",
	"retried":   "Retry requested",
	"reissued":  "Re-issued",
	"cancelled": "Link cancelled",
	"expired":   "Link expired",
	"email":     "Email",
	"reminders": "Reminders",
	"status":    "Status changed",
	"webhook":   "Message from StableMint",
}

// TimelineTitle is the heading of one line of a link's timeline: the
// plain name of the StableMint event behind it when there is one
// (eventType, from a webhook), else the name of what paylinks did (kind).
func TimelineTitle(kind, eventType string) string {
	if eventType != "" {
		return EventName(eventType)
	}
	if t, ok := timelineTitles[kind]; ok {
		return t
	}
	return "Update"
}
