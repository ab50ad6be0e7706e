package views

import "strconv"

// LinkLiveFragment is what the link page refreshes without a reload: the
// status badge, the flags and the timeline. Version changes whenever any of
// them may have.
type LinkLiveFragment struct {
	Version  string
	Status   string
	Flags    LinkFlagSet
	Actions  LinkActions
	Timeline []TimelineEntry
}

// LinkLiveURL is where a link page fetches its live fragment. It mirrors the
// route "/links/:id/live" (handlers.RouteLinkLive; a handler test keeps the
// two equal) because the link page's model carries no URL for it.
func LinkLiveURL(id int64) string { return "/links/" + strconv.FormatInt(id, 10) + "/live" }

// EventsPage is the admin list of webhook deliveries, newest first.
type EventsPage struct {
	Layout   Layout
	Action   string // the filter form's target
	Outcome  string
	Type     string
	Outcomes []Option
	Types    []Option
	Rows     []EventRow
	NextURL  string // older deliveries; "" on the last page
	FirstURL string // back to the newest; "" on the first page
}

// EventRow is one delivery in the admin list.
type EventRow struct {
	DeliveryID   int64
	Received     string
	Outcome      string // applied, no_change, needs_review, unmatched, unparsable, dismissed, duplicate, rejected
	OutcomeLabel string
	Type         string
	Name         string // Type in plain words (paylink.EventName)
	Family       string
	Detail       string
	IP           string
	EventURL     string // "" for a rejected delivery (nothing was stored)
	LinkID       int64
	LinkURL      string
}

// EventPage is one stored webhook event, its deliveries and what an admin
// may do with it.
type EventPage struct {
	Layout       Layout
	ID           int64
	Key          string
	Family       string
	Type         string
	Name         string // Type in plain words (paylink.EventName)
	Effect       string
	Outcome      string
	OutcomeLabel string
	Detail       string
	Received     string
	Updated      string
	LinkID       int64
	LinkURL      string
	Fields       []KV // identifiers and amount, as StableMint sent them
	Deliveries   []EventDelivery
	Body         string // pretty-printed when it is JSON, else as received
	EventsURL    string
	// Actions; "" when not offered.
	AssignURL  string
	DismissURL string
	ReapplyURL string
	AcceptURL  string
	LeaveURL   string
	// The assign and dismiss forms as submitted, and their errors.
	AssignValue string
	Note        string
	Errors      FieldErrors
}

// EventDelivery is one verified delivery of an event, with its signature
// headers.
type EventDelivery struct {
	Received  string
	Kind      string // first, duplicate
	IP        string
	RequestID string
	Timestamp string // StableMint-Timestamp
	Signature string // StableMint-Signature
}
