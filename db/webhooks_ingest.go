package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paylinks/paylinks/paylink"
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
		return nil, s.noteWrite(mapErr(err))
	}
	w := newWTx(ctx, &Tx{Tx: sqlTx, now: s.Now().UTC()})
	w.prepared = prepared
	return &webhookTx{w: w, now: s.Now, store: s}, nil
}

type webhookTx struct {
	w     *wtx
	now   func() time.Time
	store *Store // records a write the disk refused (noteWrite)
}

// Ingest stamps each delivery's writes with the time it is applied: a
// transaction stays open while deliveries arrive, and its start would
// otherwise date a delivery's link changes before its own receipt.
func (t *webhookTx) Ingest(d WebhookDelivery) (WebhookResult, error) {
	t.w.now = t.now().UTC()
	res, err := ingestOne(t.w, d)
	if err != nil {
		return res, t.store.noteWrite(err)
	}
	return res, nil
}

func (t *webhookTx) Commit() error { return t.store.noteWrite(mapErr(t.w.Tx.Tx.Commit())) }

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
	qLinkByKey, qLinkByReference, qLinkByWebsite, qLinkStatus, qLinkIdentifiers, qLinkEvent, qNotify}

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

// auditAnomaly writes the audit entries docs/security.md A7 asks for: unmatched
// events, amount or currency mismatches and payments after expiry or cancel.
func auditAnomaly(w *wtx, d WebhookDelivery, eventID, linkID int64, outcome paylink.Outcome, dec paylink.Decision, detail string) error {
	var action string
	switch {
	case outcome == paylink.OutcomeUnmatched:
		action = "webhook.unmatched"
	case dec.Review:
		action = "webhook.needs_review"
	case dec.PaidAfterExpiry:
		action = "webhook.paid_after_expiry"
	case dec.PaidAfterCancel:
		action = "webhook.paid_after_cancel"
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
	paid_after_expiry, paid_after_cancel, needs_review`

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
			&l.PaidAfterExpiry, &l.PaidAfterCancel, &l.NeedsReview); err != nil {
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
	cancel := l.PaidAfterCancel || d.PaidAfterCancel
	if to != l.Status || expiry != l.PaidAfterExpiry || cancel != l.PaidAfterCancel || review != l.NeedsReview {
		res, err := w.exec(qLinkStatus, to, expiry, cancel, review, ms(w.now), l.ID, l.Status)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("link %d left status %s during the transaction", l.ID, l.Status)
		}
		// Staff hear about it (db/notifications.go): one row, turned into
		// emails by the notification job after this commits.
		if e := notifyEvent(l.Status, to, cancel && !l.PaidAfterCancel, expiry && !l.PaidAfterExpiry, review && !l.NeedsReview); e != "" {
			if _, err := w.exec(qNotify, l.ID, e, to, ms(w.now)); err != nil {
				return err
			}
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
	qLinkStatus = `UPDATE links SET status = ?, paid_after_expiry = ?, paid_after_cancel = ?, needs_review = ?,
		updated_at = ? WHERE id = ? AND status = ?`
	qLinkIdentifiers = `UPDATE links SET sm_session_id = COALESCE(?, sm_session_id),
		deposit_reference = COALESCE(?, deposit_reference), updated_at = ? WHERE id = ?`
	qLinkEvent = "INSERT INTO link_events (link_id, at, kind, actor_id, message, ref_id) VALUES (?, ?, ?, ?, ?, ?)"
)

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
