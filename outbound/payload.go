package outbound

import (
	"encoding/json"
	"time"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/db"
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

// DefaultLinkData is the link as the JSON API shows it (api.LinkOf): one
// representation for the API's answers and the webhooks' data.
func DefaultLinkData(l db.Link) any { return api.LinkOf(l) }

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
