package db

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// Kinds of delivery: every request to the webhook endpoint is one.
const (
	DeliveryEvent     = "event"     // the first verified delivery of an event: the event itself
	DeliveryDuplicate = "duplicate" // a verified delivery of an event already stored
	DeliveryRejected  = "rejected"  // refused before anything trusted it (bad signature, stale timestamp)
)

// WebhookEvent is a stored event. What else it says (identifiers, amount)
// is read from Body, exactly as signed.
type WebhookEvent struct {
	ID         int64
	Key        string
	Family     string
	Type       string
	Effect     paylink.Effect
	Outcome    paylink.Outcome
	Detail     string
	LinkID     int64
	ReceivedAt time.Time
	UpdatedAt  time.Time
	Body       []byte
}

// WebhookDeliveryRow is one delivery with a summary of its event.
type WebhookDeliveryRow struct {
	ID           int64
	ReceivedAt   time.Time
	Kind         string
	EventID      int64
	Reason       string
	IP           string
	RequestID    string
	BodySHA256   string
	BodySize     int
	SigTimestamp string
	Signature    string
	// From the event, when there is one.
	EventKey string
	Type     string
	Family   string
	Outcome  paylink.Outcome
	Detail   string
	LinkID   int64
}

// WebhookFilter selects deliveries for the admin list.
type WebhookFilter struct {
	// Outcome is an event outcome, or DeliveryDuplicate or DeliveryRejected;
	// "" for all.
	Outcome string
	Type    string // exact; "" for all
	Before  int64  // keyset cursor: deliveries with a smaller id; 0 for the newest
	Limit   int
}

// WebhookDeliveryPage is one page of deliveries, newest first.
type WebhookDeliveryPage struct {
	Rows    []WebhookDeliveryRow
	HasMore bool
}

const webhookEventCols = `id, event_key, family, type, effect, outcome, detail, COALESCE(link_id, 0), received_at,
	COALESCE(updated_at, received_at), body`

func scanWebhookEvent(r scanner) (WebhookEvent, error) {
	var e WebhookEvent
	var received, updated int64
	err := r.Scan(&e.ID, &e.Key, &e.Family, &e.Type, &e.Effect, &e.Outcome, &e.Detail, &e.LinkID, &received, &updated, &e.Body)
	if err != nil {
		return WebhookEvent{}, mapErr(err)
	}
	e.ReceivedAt, e.UpdatedAt = fromMS(received), fromMS(updated)
	return e, nil
}

const selectEvent = "SELECT " + webhookEventCols + " FROM webhook_deliveries WHERE id = ? AND kind = 'event'"

// WebhookEventByID loads one stored event with its raw body.
func (s *Store) WebhookEventByID(ctx context.Context, id int64) (WebhookEvent, error) {
	return scanWebhookEvent(s.read.QueryRowContext(ctx, selectEvent, id))
}

// deliveryCols read a delivery with its event's summary: from the row
// itself for an event, from the event it repeats for a duplicate.
const deliveryCols = `d.id, d.received_at, d.kind, CASE d.kind WHEN 'event' THEN d.id ELSE COALESCE(d.event_id, 0) END,
	d.reason, d.ip, d.request_id, d.body_sha256, d.body_size, d.sig_timestamp, d.signature,
	COALESCE(e.event_key, d.event_key, ''), COALESCE(e.type, d.type, ''), COALESCE(e.family, d.family, ''),
	COALESCE(e.outcome, d.outcome, ''), COALESCE(e.detail, d.detail, ''), COALESCE(e.link_id, d.link_id, 0)`

const deliveryFrom = ` FROM webhook_deliveries d LEFT JOIN webhook_deliveries e ON e.id = d.event_id`

func (s *Store) queryDeliveries(ctx context.Context, q string, args ...any) ([]WebhookDeliveryRow, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebhookDeliveryRow
	for rows.Next() {
		var r WebhookDeliveryRow
		var at int64
		if err := rows.Scan(&r.ID, &at, &r.Kind, &r.EventID, &r.Reason, &r.IP, &r.RequestID, &r.BodySHA256,
			&r.BodySize, &r.SigTimestamp, &r.Signature, &r.EventKey, &r.Type, &r.Family, &r.Outcome, &r.Detail,
			&r.LinkID); err != nil {
			return nil, err
		}
		r.ReceivedAt = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// WebhookEventDeliveries lists an event's deliveries, oldest first: the
// event's own row, then its duplicates.
func (s *Store) WebhookEventDeliveries(ctx context.Context, eventID int64) ([]WebhookDeliveryRow, error) {
	return s.queryDeliveries(ctx, "SELECT "+deliveryCols+deliveryFrom+
		" WHERE (d.id = ?1 AND d.kind = 'event') OR d.event_id = ?1 ORDER BY d.id", eventID)
}

// outcomeFilters are the list's outcome filters as SQL, literal so that
// SQLite can use the partial indexes on the rare ones.
var outcomeFilters = map[string]string{
	string(paylink.OutcomeApplied):     "d.kind = 'event' AND d.outcome = 'applied'",
	string(paylink.OutcomeNoChange):    "d.kind = 'event' AND d.outcome = 'no_change'",
	string(paylink.OutcomeNeedsReview): "d.outcome = 'needs_review'",
	string(paylink.OutcomeUnmatched):   "d.outcome = 'unmatched'",
	string(paylink.OutcomeUnparsable):  "d.outcome = 'unparsable'",
	string(paylink.OutcomeDismissed):   "d.outcome = 'dismissed'",
	DeliveryDuplicate:                  "d.kind = 'duplicate'",
	DeliveryRejected:                   "d.kind = 'rejected'",
}

// ListWebhookDeliveries returns a keyset page of deliveries, newest first.
// An unknown outcome filter is ErrNotFound.
func (s *Store) ListWebhookDeliveries(ctx context.Context, f WebhookFilter) (WebhookDeliveryPage, error) {
	var where []string
	var args []any
	if f.Outcome != "" {
		cond, ok := outcomeFilters[f.Outcome]
		if !ok {
			return WebhookDeliveryPage{}, fmt.Errorf("%w: outcome %q", ErrNotFound, f.Outcome)
		}
		where = append(where, cond)
	}
	if f.Type != "" {
		where, args = append(where, "(d.type = ? OR e.type = ?)"), append(args, f.Type, f.Type)
	}
	if f.Before > 0 {
		where, args = append(where, "d.id < ?"), append(args, f.Before)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	q := "SELECT " + deliveryCols + deliveryFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT ?"
	rows, err := s.queryDeliveries(ctx, q, append(args, f.Limit+1)...)
	if err != nil {
		return WebhookDeliveryPage{}, err
	}
	p := WebhookDeliveryPage{Rows: rows}
	if len(rows) > f.Limit {
		p.Rows, p.HasMore = rows[:f.Limit], true
	}
	return p, nil
}

// WebhookEventTypes lists every event type received, for the admin filter.
func (s *Store) WebhookEventTypes(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT type FROM webhook_event_types ORDER BY type LIMIT 500")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// LinkIDsByReference finds links an admin means by a reference: StableMint's
// session reference, the idempotency key, a session id or deposit reference
// from an earlier event, or the website reference. At most limit ids.
func (s *Store) LinkIDsByReference(ctx context.Context, ref string, limit int) ([]int64, error) {
	return s.ids(ctx, `SELECT id FROM links WHERE sm_reference = ?1
		UNION SELECT id FROM links WHERE idempotency_key = ?1
		UNION SELECT id FROM links WHERE sm_session_id = ?1
		UNION SELECT id FROM links WHERE deposit_reference = ?1
		UNION SELECT id FROM links WHERE website_reference = ?1 COLLATE NOCASE AND website_reference = ?1
		ORDER BY 1 DESC LIMIT ?2`, ref, limit)
}

// LinkVersion changes whenever the link or its timeline does: the link
// page's live updates poll it.
func (s *Store) LinkVersion(ctx context.Context, id int64) (string, error) {
	var updated, last int64
	err := s.read.QueryRowContext(ctx, `SELECT l.updated_at, COALESCE((SELECT max(e.id) FROM link_events e WHERE e.link_id = l.id), 0)
		FROM links l WHERE l.id = ?`, id).Scan(&updated, &last)
	if err != nil {
		return "", mapErr(err)
	}
	return strconv.FormatInt(updated, 36) + "." + strconv.FormatInt(last, 36), nil
}
