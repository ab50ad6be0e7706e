package db

import (
	"context"
	"database/sql"
	"errors"
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

// WebhookEventData is a verified event as the web layer parsed it. db does
// not parse provider payloads; it stores and applies these values.
type WebhookEventData struct {
	Key    string // eventId, else the hex SHA-256 of the body
	Parsed bool   // false: the body is not a JSON object
	Family string // legacy, partner, v2, unknown
	Type   string
	Effect paylink.Effect
	// Identifiers, as sent.
	SessionID, DepositReference, IdempotencyKey, WebsiteReference string
	// AmountRaw and Currency are as sent; AmountMinor is the amount exactly
	// in minor units of Currency when AmountKnown, and Exponent that
	// currency's number of decimals.
	AmountRaw   string
	Currency    string
	AmountMinor int64
	AmountKnown bool
	Exponent    int
	OccurredAt  time.Time
	Body        []byte
}

// WebhookDelivery is one request to the webhook endpoint, verified or
// refused.
type WebhookDelivery struct {
	ReceivedAt time.Time
	IP         string
	RequestID  string
	BodySHA256 string // hex
	BodySize   int
	// RejectReason is set for a refused request: only the fields above are
	// stored, never its content.
	RejectReason string
	// The signature headers and the event of a verified request.
	SigTimestamp string
	Signature    string
	Event        WebhookEventData
}

// WebhookResult is what storing one delivery did.
type WebhookResult struct {
	DeliveryID int64
	EventID    int64 // 0 for a rejected delivery
	Duplicate  bool
	Outcome    paylink.Outcome // the event's outcome; "rejected" for a refused request
	LinkID     int64
}

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

// WebhookAction is the result of an admin's action on an event.
type WebhookAction struct {
	Outcome paylink.Outcome
	Detail  string
	LinkID  int64
}

// IngestWebhooks stores deliveries in ONE write transaction, in order, and
// applies each new event to its link in that same transaction: the event
// row (raw body, headers, family, type, outcome), the link's new status and
// flags, its timeline line and any anomaly audit entry commit together or
// not at all. A delivery of an event already stored (same key, caught by
// the UNIQUE key with ON CONFLICT DO NOTHING, also within the batch) is
// recorded as a duplicate and changes nothing else. Callers acknowledge a
// delivery only after this returns nil.
func (s *Store) IngestWebhooks(ctx context.Context, ds []WebhookDelivery) ([]WebhookResult, error) {
	return s.ingest(ctx, ds, nil)
}

func (s *Store) ingest(ctx context.Context, ds []WebhookDelivery, prepared map[string]*sql.Stmt) ([]WebhookResult, error) {
	t, err := s.beginWebhooks(ctx, prepared)
	if err != nil {
		return nil, err
	}
	defer t.Rollback()
	out := make([]WebhookResult, len(ds))
	for i, d := range ds {
		if out[i], err = t.Ingest(d); err != nil {
			return nil, fmt.Errorf("webhook delivery %d of %d: %w", i+1, len(ds), err)
		}
	}
	if err := t.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// WebhookTx is one open write transaction for webhook deliveries, ingested
// one at a time as they arrive and then committed together: the
// group-commit ingester applies each delivery while the next is still
// being verified, instead of idling until its batch is complete. Nothing
// of it is stored, and no delivery in it may be acknowledged, until Commit
// returns nil. After an error from Ingest the transaction must be rolled
// back: the failed statement may have left part of its delivery behind.
type WebhookTx interface {
	// Ingest applies one delivery, as IngestWebhooks does each of its own.
	Ingest(d WebhookDelivery) (WebhookResult, error)
	// Commit makes every delivery ingested so far durable at once.
	Commit() error
	// Rollback discards the transaction; after Commit it does nothing.
	Rollback() error
}

// BeginWebhooks opens a WebhookTx. It is IMMEDIATE: it waits for the write
// lock (up to busy_timeout) here rather than at the first write.
func (s *Store) BeginWebhooks(ctx context.Context) (WebhookTx, error) {
	return s.beginWebhooks(ctx, nil)
}

func (s *Store) beginWebhooks(ctx context.Context, prepared map[string]*sql.Stmt) (*webhookTx, error) {
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr(err)
	}
	w := newWTx(ctx, &Tx{Tx: sqlTx, now: s.Now().UTC()})
	w.prepared = prepared
	return &webhookTx{w: w, now: s.Now}, nil
}

type webhookTx struct {
	w   *wtx
	now func() time.Time
}

// Ingest stamps each delivery's writes with the time it is applied: a
// transaction stays open while deliveries arrive, and its start would
// otherwise date a delivery's link changes before its own receipt.
func (t *webhookTx) Ingest(d WebhookDelivery) (WebhookResult, error) {
	t.w.now = t.now().UTC()
	return ingestOne(t.w, d)
}

func (t *webhookTx) Commit() error { return mapErr(t.w.Tx.Tx.Commit()) }

func (t *webhookTx) Rollback() error {
	if err := t.w.Tx.Tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

func ingestOne(w *wtx, d WebhookDelivery) (WebhookResult, error) {
	at := d.ReceivedAt
	if at.IsZero() {
		at = w.now
	}
	if d.RejectReason != "" {
		var id int64
		err := w.row(qInsertRejected, ms(at), oneLine(d.IP), oneLine(d.RequestID), d.BodySHA256, d.BodySize,
			oneLine(d.RejectReason)).Scan(&id)
		if err != nil {
			return WebhookResult{}, err
		}
		err = insertAudit(w.ctx, w.Tx, AuditEntry{Action: "webhook.rejected", Target: "webhook-delivery:" + itoa(id),
			Outcome: "denied", IP: d.IP, RequestID: d.RequestID, Details: d.RejectReason + "; body sha256 " + d.BodySHA256})
		return WebhookResult{DeliveryID: id, Outcome: paylink.Outcome(DeliveryRejected)}, err
	}

	ev := d.Event
	var (
		l       paylink.LinkState
		matched bool
		dec     paylink.Decision
		outcome paylink.Outcome
		detail  string
	)
	if !ev.Parsed {
		outcome, detail = paylink.OutcomeUnparsable, unparsableDetail
	} else {
		var why string
		var err error
		if l, matched, why, err = matchLink(w, ev); err != nil {
			return WebhookResult{}, err
		}
		switch {
		case matched:
			dec = paylink.Decide(l, ev.Rules())
			outcome, detail = dec.Outcome, dec.Message
		case ev.Effect == paylink.EffectNone:
			outcome, detail = paylink.OutcomeNoChange, noLinkDetail(ev)
		default:
			outcome, detail = paylink.OutcomeUnmatched, why
		}
	}

	var linkArg any
	if matched {
		linkArg = l.ID
	}
	var eventID int64
	err := w.row(qInsertEvent, ms(at), oneLine(d.IP), oneLine(d.RequestID), d.BodySHA256, d.BodySize,
		oneLine(d.SigTimestamp), oneLine(d.Signature), ev.Key, bodyBytes(ev.Body), family(ev), ev.Type, effect(ev),
		outcome, oneLine(detail), linkArg, ms(w.now)).Scan(&eventID)
	if errors.Is(err, sql.ErrNoRows) {
		// Already stored: record this delivery, change nothing else.
		r := WebhookResult{Duplicate: true}
		if err := w.row(qEventByKey, ev.Key).Scan(&r.EventID, &r.Outcome, &r.LinkID); err != nil {
			return WebhookResult{}, err
		}
		err := w.row(qInsertDuplicate, ms(at), r.EventID, oneLine(d.IP), oneLine(d.RequestID), d.BodySHA256, d.BodySize,
			oneLine(d.SigTimestamp), oneLine(d.Signature)).Scan(&r.DeliveryID)
		return r, err
	}
	if err != nil {
		return WebhookResult{}, err
	}
	r := WebhookResult{DeliveryID: eventID, EventID: eventID, Outcome: outcome}
	if matched {
		r.LinkID = l.ID
		if err := applyToLink(w, l, ev, dec, eventID, 0, ""); err != nil {
			return WebhookResult{}, err
		}
	}
	return r, auditAnomaly(w, d, eventID, r.LinkID, outcome, dec, detail)
}

// The ingest path's statements. An event's row is inserted with ON
// CONFLICT DO NOTHING on its UNIQUE key: no row back means it was stored
// before, and the delivery is recorded as a duplicate.
const (
	qInsertEvent = `INSERT INTO webhook_deliveries (received_at, kind, ip, request_id, body_sha256, body_size,
		sig_timestamp, signature, event_key, body, family, type, effect, outcome, detail, link_id, updated_at)
		VALUES (?, 'event', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_key) DO NOTHING RETURNING id`
	qEventByKey      = "SELECT id, outcome, COALESCE(link_id, 0) FROM webhook_deliveries WHERE event_key = ?"
	qInsertDuplicate = `INSERT INTO webhook_deliveries (received_at, kind, event_id, ip, request_id, body_sha256, body_size,
		sig_timestamp, signature) VALUES (?, 'duplicate', ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	qInsertRejected = `INSERT INTO webhook_deliveries (received_at, kind, ip, request_id, body_sha256, body_size, reason)
		VALUES (?, 'rejected', ?, ?, ?, ?, ?) RETURNING id`
)

// hotQueries are prepared once by a WebhookWriter.
var hotQueries = []string{qInsertEvent, qEventByKey, qInsertDuplicate, qInsertRejected,
	qLinkByKey, qLinkByReference, qLinkByWebsite, qLinkStatus, qLinkIdentifiers, qLinkEvent}

// WebhookWriter ingests deliveries like Store.IngestWebhooks, with the
// ingest path's statements prepared once on the writer connection
// (Store.prepared) rather than once per transaction: parsing them costs
// SQLite about as much as running them. The statements are the store's and
// close with it. The group-commit ingester holds one for its lifetime.
type WebhookWriter struct {
	s     *Store
	stmts map[string]*sql.Stmt // read-only after NewWebhookWriter
}

// NewWebhookWriter prepares the statements (outside any transaction: a
// writer statement needs the writer's one connection).
func (s *Store) NewWebhookWriter(ctx context.Context) (*WebhookWriter, error) {
	w := &WebhookWriter{s: s, stmts: make(map[string]*sql.Stmt, len(hotQueries))}
	for _, q := range hotQueries {
		st, err := s.prepared(ctx, true, q)
		if err != nil {
			return nil, err
		}
		w.stmts[q] = st
	}
	return w, nil
}

// IngestWebhooks is Store.IngestWebhooks with the prepared statements.
func (w *WebhookWriter) IngestWebhooks(ctx context.Context, ds []WebhookDelivery) ([]WebhookResult, error) {
	return w.s.ingest(ctx, ds, w.stmts)
}

// BeginWebhooks is BeginWebhooks of the Store with the prepared statements.
func (w *WebhookWriter) BeginWebhooks(ctx context.Context) (WebhookTx, error) {
	return w.s.beginWebhooks(ctx, w.stmts)
}

const unparsableDetail = "The body is not a JSON object; stored exactly as received."

func noLinkDetail(ev WebhookEventData) string {
	return fmt.Sprintf("StableMint sent %s, which does not change a link's status; it matches no link.", quoteType(ev.Type))
}

// auditAnomaly writes the audit entries security.md A7 asks for: unmatched
// events, amount or currency mismatches and payments after expiry.
func auditAnomaly(w *wtx, d WebhookDelivery, eventID, linkID int64, outcome paylink.Outcome, dec paylink.Decision, detail string) error {
	var action string
	switch {
	case outcome == paylink.OutcomeUnmatched:
		action = "webhook.unmatched"
	case dec.Review:
		action = "webhook.needs_review"
	case dec.PaidAfterExpiry:
		action = "webhook.paid_after_expiry"
	default:
		return nil
	}
	target := "webhook:" + itoa(eventID)
	if linkID != 0 {
		target = linkTarget(linkID)
	}
	return insertAudit(w.ctx, w.Tx, AuditEntry{Action: action, Target: target, Outcome: "flagged", IP: d.IP,
		RequestID: d.RequestID, Details: "webhook:" + itoa(eventID) + " " + detail})
}

func family(ev WebhookEventData) string {
	switch ev.Family {
	case "legacy", "partner", "v2":
		return ev.Family
	}
	return "unknown"
}

func effect(ev WebhookEventData) paylink.Effect {
	switch ev.Effect {
	case paylink.EffectProcessing, paylink.EffectPaid, paylink.EffectSettled, paylink.EffectFailed:
		return ev.Effect
	}
	return paylink.EffectNone
}

// bodyBytes keeps an empty body a non-NULL blob.
func bodyBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const linkStateCols = `id, status, amount_minor, currency, COALESCE(sm_session_id, ''), COALESCE(deposit_reference, ''),
	paid_after_expiry, needs_review`

// The link lookups, one per matching step (and by id).
const (
	qLinkByID        = "SELECT " + linkStateCols + " FROM links WHERE id = ?"
	qLinkByKey       = "SELECT " + linkStateCols + " FROM links WHERE idempotency_key = ?"
	qLinkByReference = "SELECT " + linkStateCols + " FROM links WHERE sm_reference IN (?, ?) LIMIT 2"
	// The NOCASE comparison uses the links_website_reference index; the
	// exact one decides.
	qLinkByWebsite = "SELECT " + linkStateCols + ` FROM links WHERE website_reference = ?1 COLLATE NOCASE
		AND website_reference = ?1 AND status IN ('creating', 'error', 'open', 'processing') LIMIT 2`
)

func queryLinkStates(w *wtx, q string, args ...any) ([]paylink.LinkState, error) {
	rows, err := w.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []paylink.LinkState
	for rows.Next() {
		var l paylink.LinkState
		if err := rows.Scan(&l.ID, &l.Status, &l.AmountMinor, &l.Currency, &l.SessionID, &l.DepositRef,
			&l.PaidAfterExpiry, &l.NeedsReview); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func loadLinkState(w *wtx, id int64) (paylink.LinkState, error) {
	ls, err := queryLinkStates(w, qLinkByID, id)
	if err != nil {
		return paylink.LinkState{}, err
	}
	if len(ls) == 0 {
		return paylink.LinkState{}, ErrNotFound
	}
	return ls[0], nil
}

// matchLink finds the event's link in the order paylink.Match sets, one
// indexed lookup per step.
func matchLink(w *wtx, ev WebhookEventData) (paylink.LinkState, bool, string, error) {
	return paylink.Match(ev.Identifiers(), func(by paylink.MatchBy) ([]paylink.LinkState, error) {
		switch by {
		case paylink.ByIdempotencyKey:
			return queryLinkStates(w, qLinkByKey, ev.IdempotencyKey)
		case paylink.BySession:
			return queryLinkStates(w, qLinkByReference, nonEmpty(ev.SessionID), nonEmpty(ev.DepositReference))
		case paylink.ByWebsiteReference:
			return queryLinkStates(w, qLinkByWebsite, ev.WebsiteReference)
		}
		return nil, fmt.Errorf("unknown matching step %d", by)
	})
}

// Rules is the part of the event paylink.Decide reads.
func (ev WebhookEventData) Rules() paylink.Event {
	return paylink.Event{Type: ev.Type, Effect: ev.Effect, AmountRaw: ev.AmountRaw, Currency: ev.Currency,
		AmountMinor: ev.AmountMinor, AmountKnown: ev.AmountKnown, Exponent: ev.Exponent}
}

// Identifiers are the references the event's link is matched by.
func (ev WebhookEventData) Identifiers() paylink.Identifiers {
	return paylink.Identifiers{IdempotencyKey: ev.IdempotencyKey, SessionID: ev.SessionID,
		DepositReference: ev.DepositReference, WebsiteReference: ev.WebsiteReference}
}

// nonEmpty is NULL for "", so an absent identifier matches nothing.
func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// applyToLink writes a decision: the link's status and flags (guarded by
// the status it was decided from), the event's sessionId and deposit
// reference, and one timeline line referring to the event. actor is 0 for
// StableMint itself.
func applyToLink(w *wtx, l paylink.LinkState, ev WebhookEventData, d paylink.Decision, eventID, actor int64, prefix string) error {
	to := l.Status
	if d.To != "" {
		to = d.To
	}
	expiry, review := l.PaidAfterExpiry || d.PaidAfterExpiry, l.NeedsReview || d.Review
	if to != l.Status || expiry != l.PaidAfterExpiry || review != l.NeedsReview {
		res, err := w.exec(qLinkStatus, to, expiry, review, ms(w.now), l.ID, l.Status)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("link %d left status %s during the transaction", l.ID, l.Status)
		}
	}
	var session, deposit any
	if ev.SessionID != "" && ev.SessionID != l.SessionID {
		session = ev.SessionID
	}
	if ev.DepositReference != "" && ev.DepositReference != l.DepositRef {
		deposit = ev.DepositReference
	}
	if session != nil || deposit != nil {
		if _, err := w.exec(qLinkIdentifiers, session, deposit, ms(w.now), l.ID); err != nil {
			return mapErr(err)
		}
	}
	kind := "webhook"
	if to != l.Status {
		kind = "status"
	}
	var actorArg any
	if actor != 0 {
		actorArg = actor
	}
	_, err := w.exec(qLinkEvent, l.ID, ms(w.now), kind, actorArg, oneLine(prefix+d.Message), eventID)
	return err
}

// The link writes. Status and flags are guarded by the status the decision
// was made from. The identifiers are a statement of their own, run only
// when one changes: naming them in an UPDATE rewrites the link's search
// keys (links_keys_update).
const (
	qLinkStatus = `UPDATE links SET status = ?, paid_after_expiry = ?, needs_review = ?, updated_at = ?
		WHERE id = ? AND status = ?`
	qLinkIdentifiers = `UPDATE links SET sm_session_id = COALESCE(?, sm_session_id),
		deposit_reference = COALESCE(?, deposit_reference), updated_at = ? WHERE id = ?`
	qLinkEvent = "INSERT INTO link_events (link_id, at, kind, actor_id, message, ref_id) VALUES (?, ?, ?, ?, ?, ?)"
)

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

// AssignWebhookEvent applies an unmatched (or dismissed) event to the link
// an admin chose, as if it had matched: identifiers stored, status rules
// applied, a timeline line by the admin, and the audit entry, in one
// transaction. ev is the event re-parsed from its stored body. An event
// that is not unmatched or dismissed any more is ErrConflict.
func (s *Store) AssignWebhookEvent(ctx context.Context, eventID, linkID int64, ev WebhookEventData, a AuditEntry) (WebhookAction, error) {
	var act WebhookAction
	err := s.withTx(ctx, func(tx *Tx) error {
		e, err := scanWebhookEvent(tx.QueryRowContext(ctx, selectEvent, eventID))
		if err != nil {
			return err
		}
		if e.Outcome != paylink.OutcomeUnmatched && e.Outcome != paylink.OutcomeDismissed {
			return fmt.Errorf("%w: event %d is %s, not unmatched", ErrConflict, eventID, e.Outcome)
		}
		w := newWTx(ctx, tx)
		l, err := loadLinkState(w, linkID)
		if err != nil {
			return err
		}
		if act, err = reapply(w, e, ev, &l, a.ActorID, "Assigned by an admin: "); err != nil {
			return err
		}
		a.Target = "webhook:" + itoa(eventID)
		a.Details = "assigned to " + linkTarget(linkID) + "; outcome " + string(act.Outcome)
		return insertAudit(ctx, tx, a)
	})
	return act, err
}

// ReapplyWebhookEvent applies a stored event again, re-parsed from its body
// (ev), to its link as the link stands now: to the link it was applied or
// assigned to, else by matching afresh. The status rules make this safe:
// a payment already applied changes nothing the second time. An event that
// was applied stays "applied" when re-applying changes nothing.
func (s *Store) ReapplyWebhookEvent(ctx context.Context, eventID int64, ev WebhookEventData, a AuditEntry) (WebhookAction, error) {
	var act WebhookAction
	err := s.withTx(ctx, func(tx *Tx) error {
		e, err := scanWebhookEvent(tx.QueryRowContext(ctx, selectEvent, eventID))
		if err != nil {
			return err
		}
		w := newWTx(ctx, tx)
		var l *paylink.LinkState
		if e.LinkID != 0 {
			ls, err := loadLinkState(w, e.LinkID)
			if err != nil {
				return err
			}
			l = &ls
		}
		if act, err = reapply(w, e, ev, l, a.ActorID, "Re-applied by an admin: "); err != nil {
			return err
		}
		a.Target = "webhook:" + itoa(eventID)
		a.Details = "outcome " + string(e.Outcome) + " → " + string(act.Outcome)
		if act.LinkID != 0 {
			a.Details += "; " + linkTarget(act.LinkID)
		}
		return insertAudit(ctx, tx, a)
	})
	return act, err
}

// reapply decides and applies ev for the stored event e: to link l when
// given, else to the link matching finds. It updates the event's parsed
// fields, outcome and detail, and the link's needs-review flag.
func reapply(w *wtx, e WebhookEvent, ev WebhookEventData, l *paylink.LinkState, actor int64, prefix string) (WebhookAction, error) {
	act := WebhookAction{LinkID: e.LinkID}
	switch {
	case !ev.Parsed:
		act.Outcome, act.Detail = paylink.OutcomeUnparsable, unparsableDetail
	default:
		if l == nil {
			m, ok, why, err := matchLink(w, ev)
			if err != nil {
				return act, err
			}
			if ok {
				l = &m
			} else if ev.Effect == paylink.EffectNone {
				act.Outcome, act.Detail = paylink.OutcomeNoChange, noLinkDetail(ev)
			} else {
				act.Outcome, act.Detail = paylink.OutcomeUnmatched, why
			}
		}
		if l != nil {
			d := paylink.Decide(*l, ev.Rules())
			if err := applyToLink(w, *l, ev, d, e.ID, actor, prefix); err != nil {
				return act, err
			}
			act.Outcome, act.Detail, act.LinkID = d.Outcome, prefix+d.Message, l.ID
			if e.Outcome == paylink.OutcomeApplied && d.Outcome == paylink.OutcomeNoChange {
				act.Outcome = paylink.OutcomeApplied // it did apply, earlier
			}
		}
	}
	var linkArg any
	if act.LinkID != 0 {
		linkArg = act.LinkID
	}
	_, err := w.exec(`UPDATE webhook_deliveries SET family = ?, type = ?, effect = ?, outcome = ?, detail = ?,
		link_id = ?, updated_at = ? WHERE id = ? AND kind = 'event'`,
		family(ev), ev.Type, effect(ev), act.Outcome, oneLine(act.Detail), linkArg, ms(w.now), e.ID)
	if err != nil {
		return act, err
	}
	for _, id := range []int64{e.LinkID, act.LinkID} {
		if err := syncNeedsReview(w, id); err != nil {
			return act, err
		}
	}
	return act, nil
}

// syncNeedsReview sets a link's needs-review flag exactly when one of its
// events still awaits an admin's decision.
func syncNeedsReview(w *wtx, linkID int64) error {
	if linkID == 0 {
		return nil
	}
	_, err := w.exec(`UPDATE links SET needs_review = 1 - needs_review, updated_at = ?2
		WHERE id = ?1 AND needs_review <> EXISTS (SELECT 1 FROM webhook_deliveries WHERE link_id = ?1 AND outcome = 'needs_review')`,
		linkID, ms(w.now))
	return err
}

// DismissWebhookEvent sets an unmatched event aside, with the admin's note,
// and audits it. An event that is not unmatched any more is ErrConflict.
func (s *Store) DismissWebhookEvent(ctx context.Context, eventID int64, note string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		detail := "Dismissed by " + a.ActorEmail + " on " + tx.now.Format("2 Jan 2006 15:04 UTC") + "."
		if note != "" {
			detail += " Note: " + note
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET outcome = 'dismissed', detail = ?, updated_at = ?
			WHERE id = ? AND kind = 'event' AND outcome = 'unmatched'`, oneLine(detail), ms(tx.now), eventID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanWebhookEvent(tx.QueryRowContext(ctx, selectEvent, eventID)); err != nil {
				return err
			}
			return fmt.Errorf("%w: event %d is not unmatched", ErrConflict, eventID)
		}
		a.Target = "webhook:" + itoa(eventID)
		a.Details = oneLine(note)
		return insertAudit(ctx, tx, a)
	})
}

// ResolveWebhookReview records an admin's decision on an event flagged for
// review. accept moves the link to the event's status (paid or settled), as
// far as the forward-only rule allows, flagging a payment after expiry;
// otherwise the link is left as it is. Either way the event is no longer
// pending, the link's flag is recomputed, a timeline line names the admin,
// and the decision is audited, in one transaction. An event not awaiting
// review (or, to accept, not a payment) is ErrConflict.
func (s *Store) ResolveWebhookReview(ctx context.Context, eventID int64, accept bool, a AuditEntry) (WebhookAction, error) {
	var act WebhookAction
	err := s.withTx(ctx, func(tx *Tx) error {
		e, err := scanWebhookEvent(tx.QueryRowContext(ctx, selectEvent, eventID))
		if err != nil {
			return err
		}
		if e.Outcome != paylink.OutcomeNeedsReview || e.LinkID == 0 {
			return fmt.Errorf("%w: event %d does not await review", ErrConflict, eventID)
		}
		if accept && e.Effect != paylink.EffectPaid && e.Effect != paylink.EffectSettled {
			return fmt.Errorf("%w: event %d is not a payment", ErrConflict, eventID)
		}
		w := newWTx(ctx, tx)
		l, err := loadLinkState(w, e.LinkID)
		if err != nil {
			return err
		}
		by := " by " + a.ActorEmail + " on " + tx.now.Format("2 Jan 2006 15:04 UTC") + "."
		d := paylink.Resolve(l, e.Effect, e.Type, accept)
		act.Outcome = d.Outcome
		if accept {
			act.Detail = e.Detail + " Accepted as paid" + by
		} else {
			act.Detail = e.Detail + " Left as is" + by
		}
		act.LinkID = l.ID
		if err := applyToLink(w, l, WebhookEventData{}, d, e.ID, a.ActorID, ""); err != nil {
			return err
		}
		if _, err := w.exec("UPDATE webhook_deliveries SET outcome = ?, detail = ?, updated_at = ? WHERE id = ? AND kind = 'event'",
			act.Outcome, oneLine(act.Detail), ms(tx.now), e.ID); err != nil {
			return err
		}
		if err := syncNeedsReview(w, l.ID); err != nil {
			return err
		}
		a.Target = linkTarget(l.ID)
		if accept {
			a.Details = "webhook:" + itoa(e.ID) + " accepted as paid: " + d.Message
		} else {
			a.Details = "webhook:" + itoa(e.ID) + " left as is"
		}
		return insertAudit(ctx, tx, a)
	})
	return act, err
}

// wtx is a write transaction that prepares each statement once: a batch of
// deliveries runs the same few statements for each, and SQLite parsing a
// statement costs about as much as running it. Statements a WebhookWriter
// prepared on the writer connection are reused as they are; the others are
// prepared on first use and close with the transaction.
type wtx struct {
	*Tx
	ctx      context.Context
	stmts    map[string]*sql.Stmt // this transaction's
	prepared map[string]*sql.Stmt // a WebhookWriter's, prepared on the writer connection
}

func newWTx(ctx context.Context, tx *Tx) *wtx {
	return &wtx{Tx: tx, ctx: ctx, stmts: map[string]*sql.Stmt{}}
}

func (w *wtx) prepare(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if p, ok := w.prepared[q]; ok {
		st = w.Tx.StmtContext(w.ctx, p) // reuses p's statement on this connection
	} else {
		var err error
		if st, err = w.Tx.PrepareContext(w.ctx, q); err != nil {
			return nil, err
		}
	}
	w.stmts[q] = st
	return st, nil
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.prepare(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.prepare(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}

// row is QueryRow through the statement cache; a failed prepare surfaces
// from Scan.
func (w *wtx) row(q string, args ...any) rowResult {
	st, err := w.prepare(q)
	if err != nil {
		return rowResult{err: err}
	}
	return rowResult{row: st.QueryRowContext(w.ctx, args...)}
}

type rowResult struct {
	row *sql.Row
	err error
}

func (r rowResult) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

// oneLine is clean (CR and LF escaped) without building a replacer for the
// common string that has neither: the ingest path calls it several times
// per delivery.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return clean(s)
}

// RejectedRetention is how long refused webhook attempts are kept.
const RejectedRetention = 30 * 24 * time.Hour

// PruneRejectedWebhooks deletes up to limit refused attempts received
// before the cut-off, oldest first, and returns how many. Only refused
// attempts can be deleted; a trigger keeps every other delivery.
func (s *Store) PruneRejectedWebhooks(ctx context.Context, before time.Time, limit int) (int, error) {
	var due bool
	if err := s.read.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE kind = 'rejected' AND received_at < ?)",
		ms(before)).Scan(&due); err != nil || !due {
		return 0, err
	}
	var n int64
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE kind = 'rejected' AND received_at < ? ORDER BY id LIMIT ?)`, ms(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func quoteType(typ string) string {
	if typ == "" {
		return "an event without a type"
	}
	return "'" + typ + "'"
}
