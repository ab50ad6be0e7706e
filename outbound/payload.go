package outbound

import (
	"encoding/json"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/stablemint"
)

// Payload is a message's body: {"type", "timestamp", "data"}, and
// "replay": true on a bulk replay (the link's state at the replay, under a
// new webhook-id). timestamp is when the change happened, not the attempt.
type Payload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Replay    bool   `json:"replay,omitempty"`
	Data      any    `json:"data"`
}

// EmailData is an email event's data: the email and its link.
type EmailData struct {
	Email EmailInfo `json:"email"`
	Link  any       `json:"link"`
}

// EmailInfo is the email of an email.sent or email.failed event.
type EmailInfo struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"` // customer (staff sent it) or reminder
	Status    string `json:"status"`
	To        string `json:"to"`
	MessageID string `json:"messageId"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
	At        string `json:"at"`
}

// TestData is a test event's data.
type TestData struct {
	Message    string `json:"message"`
	EndpointID int64  `json:"endpointId"`
}

// LinkJSON is this package's own picture of a link, used until the JSON
// API's representation is wired in (Options.LinkData): amounts as decimal
// strings with their currency, times in RFC 3339, UTC.
type LinkJSON struct {
	ID               int64  `json:"id"`
	Status           string `json:"status"`
	Amount           string `json:"amount"`
	Currency         string `json:"currency"`
	CustomerID       string `json:"customerId"`
	CustomerEmail    string `json:"customerEmail"`
	WebsiteReference string `json:"websiteReference,omitempty"`
	Reference        string `json:"reference,omitempty"` // StableMint's session reference
	DepositReference string `json:"depositReference,omitempty"`
	CheckoutURL      string `json:"checkoutUrl,omitempty"`
	NeedsReview      bool   `json:"needsReview,omitempty"`
	PaidAfterExpiry  bool   `json:"paidAfterExpiry,omitempty"`
	PaidAfterCancel  bool   `json:"paidAfterCancel,omitempty"`
	CreatedAt        string `json:"createdAt"`
	ExpiresAt        string `json:"expiresAt,omitempty"`
	PaidAt           string `json:"paidAt,omitempty"`
	SettledAt        string `json:"settledAt,omitempty"`
	CancelledAt      string `json:"cancelledAt,omitempty"`
}

// DefaultLinkData is LinkJSON of l.
func DefaultLinkData(l db.Link) any {
	amount := ""
	if a, err := stablemint.NewAmount(l.AmountMinor, l.Currency); err == nil {
		amount = a.String()
	}
	checkout := l.CheckoutURL
	if l.HeldCheckoutHost != "" {
		checkout = "" // held for an admin: not a URL to hand out
	}
	return LinkJSON{ID: l.ID, Status: string(l.Status), Amount: amount, Currency: l.Currency,
		CustomerID: l.CustomerID, CustomerEmail: l.CustomerEmail, WebsiteReference: l.WebsiteReference,
		Reference: l.SMReference, DepositReference: l.DepositReference, CheckoutURL: checkout,
		NeedsReview: l.NeedsReview, PaidAfterExpiry: l.PaidAfterExpiry, PaidAfterCancel: l.PaidAfterCancel,
		CreatedAt: rfc3339(l.CreatedAt), ExpiresAt: rfc3339(l.ExpiresAt), PaidAt: rfc3339(l.PaidAt),
		SettledAt: rfc3339(l.SettledAt), CancelledAt: rfc3339(l.CancelledAt)}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// body builds a message's body from its snapshot and its link now (the
// fields a change cannot alter). The same message always makes the same
// body, but for an email event, whose link is as it is at the attempt.
func body(m db.OutboundMessage, link *db.Link, linkData func(db.Link) any) ([]byte, error) {
	p := Payload{Type: m.Type, Timestamp: rfc3339(m.CreatedAt), Replay: m.Replay}
	snap, err := m.ParseSnapshot()
	if err != nil {
		return nil, err
	}
	switch {
	case m.Type == db.OutboundTest:
		p.Data = TestData{Message: "A test event from paylinks.", EndpointID: m.EndpointID}
	case link == nil:
		p.Data = struct{}{}
	case snap.Email != nil:
		l := *link
		if snap.Link != nil {
			l = snap.Link.Apply(l)
		}
		e := snap.Email
		p.Data = EmailData{Email: EmailInfo{ID: e.ID, Kind: e.Kind, Status: e.Status, To: e.To, MessageID: e.MessageID,
			Attempts: e.Attempts, Error: e.Error, At: rfc3339(time.UnixMilli(e.At))}, Link: linkData(l)}
	default:
		l := *link
		if snap.Link != nil {
			l = snap.Link.Apply(l)
		}
		p.Data = linkData(l)
	}
	return json.Marshal(p)
}
