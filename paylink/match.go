package paylink

import (
	"strconv"
	"strings"
)

// MatchBy names one way an event can find its link.
type MatchBy int

// The matching steps, in the order Match tries them.
const (
	// ByIdempotencyKey: the event's idempotencyKey is the link's.
	ByIdempotencyKey MatchBy = iota + 1
	// BySession: the event's sessionId or reference is the session
	// reference stored from StableMint's create answer.
	BySession
	// ByWebsiteReference: the event's websiteReference is the link's, and
	// the link is not yet paid, failed or expired (still creating, error,
	// open or processing).
	ByWebsiteReference
)

// Identifiers are the references an event carries, as sent.
type Identifiers struct {
	IdempotencyKey   string
	SessionID        string
	DepositReference string
	WebsiteReference string
}

// Steps lists the matching steps that apply to an event, in order: a step
// whose identifiers the event lacks is skipped.
func (ids Identifiers) Steps() []MatchBy {
	var s []MatchBy
	if ids.IdempotencyKey != "" {
		s = append(s, ByIdempotencyKey)
	}
	if ids.SessionID != "" || ids.DepositReference != "" {
		s = append(s, BySession)
	}
	if ids.WebsiteReference != "" {
		s = append(s, ByWebsiteReference)
	}
	return s
}

func (ids Identifiers) label(by MatchBy) string {
	switch by {
	case ByIdempotencyKey:
		return "idempotencyKey"
	case BySession:
		return "sessionId/reference"
	}
	return "websiteReference " + strconv.Quote(ids.WebsiteReference)
}

// Match finds an event's link as the contract orders it (docs/stablemint.md):
// the steps of ids.Steps run in order, find returning the links one step
// finds (at most two are needed), and the first step that finds exactly one
// link wins. A step that finds several is ambiguous and matching goes on.
// When no step wins, why says so for the admin who will assign the event.
func Match(ids Identifiers, find func(MatchBy) ([]LinkState, error)) (l LinkState, ok bool, why string, err error) {
	var ambiguous []string
	for _, by := range ids.Steps() {
		ls, err := find(by)
		if err != nil {
			return LinkState{}, false, "", err
		}
		switch len(ls) {
		case 0:
		case 1:
			return ls[0], true, "", nil
		default:
			ambiguous = append(ambiguous, ids.label(by))
		}
	}
	if len(ambiguous) > 0 {
		return LinkState{}, false, "Ambiguous: " + strings.Join(ambiguous, " and ") +
			" match more than one link. Assign it to the right link or dismiss it.", nil
	}
	return LinkState{}, false, "No link has this event's idempotencyKey, sessionId or reference, and no single unpaid link " +
		"has its websiteReference. Assign it to a link or dismiss it.", nil
}
