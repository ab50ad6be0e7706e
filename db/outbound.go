package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// Outbound webhooks: the endpoints admins register, the messages the
// triggers of migration 0021 queue in the transaction of each change, and
// the log of every delivery attempt. outbound/ delivers; docs/
// outbound-webhooks.md describes the whole.

// Outbound message statuses.
const (
	OutboundPending   = "pending"   // waiting for the worker, also between retries
	OutboundDelivered = "delivered" // the endpoint answered 2xx
	OutboundFailed    = "failed"    // out of time, or its endpoint was disabled
)

// OutboundTest is the type of a "Send test event" message.
const OutboundTest = "webhook.test"

// OutboundEventTypes are the event types an endpoint can hear.
var OutboundEventTypes = []string{"link.created", "link.opened", "link.processing", "link.paid", "link.settled",
	"link.failed", "link.expired", "link.cancelled", "link.needs_attention", "email.sent", "email.failed"}

// OutboundEndpoint is one registered receiver.
type OutboundEndpoint struct {
	ID             int64
	URL            string
	Description    string
	Types          []string
	Secret         string
	OldSecret      string    // valid beside Secret until OldSecretUntil
	OldSecretUntil time.Time // zero: no old secret
	Enabled        bool
	DisabledReason string
	DisabledAt     time.Time
	FailingSince   time.Time // zero: the last attempt succeeded (or none failed)
	Listener       bool      // registered by paylinks listen
	CreatedBy      int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Secrets are the secrets a message is signed with at now: the current
// one, and the one before a rotation during its overlap.
func (e OutboundEndpoint) Secrets(now time.Time) []string {
	if e.OldSecret != "" && now.Before(e.OldSecretUntil) {
		return []string{e.Secret, e.OldSecret}
	}
	return []string{e.Secret}
}

// NewOutboundEndpoint is what an admin registers.
type NewOutboundEndpoint struct {
	URL         string
	Description string
	Types       []string
	Secret      string
	Listener    bool
	CreatedBy   int64 // 0: paylinks listen
}

// OutboundMessage is one queued message to one endpoint, with its
// endpoint's address and secrets when claimed.
type OutboundMessage struct {
	ID         int64
	MsgID      string // the webhook-id header
	EndpointID int64
	Type       string
	LinkID     int64
	EmailID    int64
	Snapshot   string // JSON; see OutboundSnapshot
	Replay     bool
	ReplayedAs int64
	Status     string
	Attempts   int
	NextAt     time.Time
	LeaseToken string
	LastStatus int
	LastError  string
	CreatedAt  time.Time
	FinishedAt time.Time

	// Filled by ClaimOutbound: where and how to send it.
	Endpoint OutboundEndpoint
}

// OutboundSnapshot is what a message's snapshot holds: the link's fields a
// change may alter, as the change left them, and for an email event the
// email.
type OutboundSnapshot struct {
	Link  *LinkSnapshot  `json:"link,omitempty"`
	Email *EmailSnapshot `json:"email,omitempty"`
}

// LinkSnapshot is the part of a link a change may alter.
type LinkSnapshot struct {
	Status           string `json:"status"`
	SMReference      string `json:"sm_reference"`
	CheckoutURL      string `json:"checkout_url"`
	ExpiresAt        int64  `json:"expires_at"`
	SMSessionID      string `json:"sm_session_id"`
	DepositReference string `json:"deposit_reference"`
	PaidAfterExpiry  int    `json:"paid_after_expiry"`
	NeedsReview      int    `json:"needs_review"`
	PaidAfterCancel  int    `json:"paid_after_cancel"`
	CancelledAt      int64  `json:"cancelled_at"`
	CancelReason     string `json:"cancel_reason"`
	PaidAt           int64  `json:"paid_at"`
	SettledAt        int64  `json:"settled_at"`
	Held             int    `json:"held"`
	UpdatedAt        int64  `json:"updated_at"`
}

// EmailSnapshot is an email event's email.
type EmailSnapshot struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Status    string `json:"status"`
	To        string `json:"to"`
	MessageID string `json:"message_id"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error"`
	At        int64  `json:"at"`
}

// Apply returns l as the snapshot saw it: the fields a change may alter
// are the snapshot's, the rest (amount, customer, references given at
// creation) the link's own.
func (s LinkSnapshot) Apply(l Link) Link {
	l.Status = paylink.Status(s.Status)
	l.SMReference, l.CheckoutURL, l.SMSessionID, l.DepositReference = s.SMReference, s.CheckoutURL, s.SMSessionID, s.DepositReference
	l.ExpiresAt, l.CancelledAt = msOrZero(s.ExpiresAt), msOrZero(s.CancelledAt)
	l.PaidAt, l.SettledAt, l.UpdatedAt = msOrZero(s.PaidAt), msOrZero(s.SettledAt), msOrZero(s.UpdatedAt)
	l.PaidAfterExpiry, l.NeedsReview, l.PaidAfterCancel = s.PaidAfterExpiry == 1, s.NeedsReview == 1, s.PaidAfterCancel == 1
	l.CancelReason = s.CancelReason
	if s.Held == 0 {
		l.HeldCheckoutHost, l.HeldCheckoutURL = "", ""
	}
	return l
}

func msOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMS(v)
}

// ParseSnapshot reads a message's snapshot.
func (m OutboundMessage) ParseSnapshot() (OutboundSnapshot, error) {
	var s OutboundSnapshot
	if m.Snapshot == "" {
		return s, nil
	}
	err := json.Unmarshal([]byte(m.Snapshot), &s)
	return s, err
}

// linkSnapshotSQL is the snapshot the triggers of migration 0021 write,
// over a links row named l: a replay takes the same picture of a link now.
const linkSnapshotSQL = `json_object('link', json_object('status', l.status, 'sm_reference', l.sm_reference,
	'checkout_url', l.checkout_url, 'expires_at', l.expires_at, 'sm_session_id', l.sm_session_id,
	'deposit_reference', l.deposit_reference, 'paid_after_expiry', l.paid_after_expiry,
	'needs_review', l.needs_review, 'paid_after_cancel', l.paid_after_cancel,
	'cancelled_at', l.cancelled_at, 'cancel_reason', l.cancel_reason,
	'paid_at', COALESCE(l.paid_at, CASE WHEN l.status IN ('paid', 'settled') THEN l.updated_at END),
	'settled_at', COALESCE(l.settled_at, CASE WHEN l.status = 'settled' THEN l.updated_at END),
	'held', l.held_checkout_host IS NOT NULL, 'updated_at', l.updated_at))`

const endpointCols = `e.id, e.url, e.description, e.secret, COALESCE(e.old_secret, ''), e.old_secret_until, e.enabled,
	e.disabled_reason, e.disabled_at, e.failing_since, e.listener, COALESCE(e.created_by, 0), e.created_at, e.updated_at,
	COALESCE((SELECT group_concat(s.type, ' ') FROM outbound_subscriptions s WHERE s.endpoint_id = e.id), '')`

func scanEndpoint(r scanner) (OutboundEndpoint, error) {
	var e OutboundEndpoint
	var oldUntil, disabledAt, failing sql.NullInt64
	var created, updated int64
	var types string
	err := r.Scan(&e.ID, &e.URL, &e.Description, &e.Secret, &e.OldSecret, &oldUntil, &e.Enabled, &e.DisabledReason,
		&disabledAt, &failing, &e.Listener, &e.CreatedBy, &created, &updated, &types)
	if err != nil {
		return OutboundEndpoint{}, mapErr(err)
	}
	e.OldSecretUntil, e.DisabledAt, e.FailingSince = nullMS(oldUntil), nullMS(disabledAt), nullMS(failing)
	e.CreatedAt, e.UpdatedAt = fromMS(created), fromMS(updated)
	e.Types = strings.Fields(types)
	slices.SortFunc(e.Types, func(a, b string) int {
		return slices.Index(OutboundEventTypes, a) - slices.Index(OutboundEventTypes, b)
	})
	return e, nil
}

// validTypes refuses an unknown event type.
func validTypes(types []string) error {
	for _, t := range types {
		if !slices.Contains(OutboundEventTypes, t) {
			return fmt.Errorf("db: unknown outbound event type %q", t)
		}
	}
	return nil
}

func putSubscriptions(ctx context.Context, tx *Tx, id int64, types []string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM outbound_subscriptions WHERE endpoint_id = ?", id); err != nil {
		return err
	}
	for _, t := range types {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO outbound_subscriptions (type, endpoint_id) VALUES (?, ?)", t, id); err != nil {
			return err
		}
	}
	return nil
}

// CreateOutboundEndpoint registers an endpoint and audits it (never its
// secret).
func (s *Store) CreateOutboundEndpoint(ctx context.Context, ne NewOutboundEndpoint, a AuditEntry) (OutboundEndpoint, error) {
	if err := validTypes(ne.Types); err != nil {
		return OutboundEndpoint{}, err
	}
	var id int64
	err := s.withTx(ctx, func(tx *Tx) error {
		var by any
		if ne.CreatedBy != 0 {
			by = ne.CreatedBy
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO outbound_endpoints (url, description, secret, listener, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, ne.URL, ne.Description, ne.Secret, ne.Listener, by, ms(tx.now), ms(tx.now)).Scan(&id)
		if err != nil {
			return mapErr(err)
		}
		if err := putSubscriptions(ctx, tx, id, ne.Types); err != nil {
			return err
		}
		a.Target = "webhook_endpoint:" + itoa(id)
		a.Details = "url " + ne.URL + "; events " + strings.Join(ne.Types, " ")
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return OutboundEndpoint{}, err
	}
	return s.OutboundEndpointByID(ctx, id)
}

// OutboundEndpointByID loads one endpoint.
func (s *Store) OutboundEndpointByID(ctx context.Context, id int64) (OutboundEndpoint, error) {
	return scanEndpoint(s.read.QueryRowContext(ctx, "SELECT "+endpointCols+" FROM outbound_endpoints e WHERE e.id = ?", id))
}

// OutboundEndpoints lists the endpoints, oldest first.
func (s *Store) OutboundEndpoints(ctx context.Context) ([]OutboundEndpoint, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+endpointCols+" FROM outbound_endpoints e ORDER BY e.id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboundEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// OutboundEndpointChange is an admin's edit of an endpoint.
type OutboundEndpointChange struct {
	URL         string
	Description string
	Types       []string
	Enabled     bool
}

// UpdateOutboundEndpoint changes an endpoint and audits the change.
// Enabling a disabled endpoint clears its failure record; messages it
// failed stay failed (a bulk replay sends them).
func (s *Store) UpdateOutboundEndpoint(ctx context.Context, id int64, c OutboundEndpointChange, a AuditEntry) error {
	if err := validTypes(c.Types); err != nil {
		return err
	}
	return s.withTx(ctx, func(tx *Tx) error {
		old, err := scanEndpoint(tx.QueryRowContext(ctx, "SELECT "+endpointCols+" FROM outbound_endpoints e WHERE e.id = ?", id))
		if err != nil {
			return err
		}
		q := `UPDATE outbound_endpoints SET url = ?, description = ?, enabled = ?, updated_at = ?`
		if c.Enabled && !old.Enabled {
			q += `, disabled_reason = '', disabled_at = NULL, failing_since = NULL`
		}
		if !c.Enabled && old.Enabled {
			q += `, disabled_reason = 'disabled by an admin', disabled_at = ` + itoa(ms(tx.now))
		}
		if _, err := tx.ExecContext(ctx, q+" WHERE id = ?", c.URL, c.Description, c.Enabled, ms(tx.now), id); err != nil {
			return err
		}
		if err := putSubscriptions(ctx, tx, id, c.Types); err != nil {
			return err
		}
		a.Target = "webhook_endpoint:" + itoa(id)
		a.Details = fmt.Sprintf("url %s → %s; events %s → %s; enabled %t → %t", old.URL, c.URL,
			strings.Join(old.Types, " "), strings.Join(c.Types, " "), old.Enabled, c.Enabled)
		return insertAudit(ctx, tx, a)
	})
}

// RotateOutboundSecret makes secret the endpoint's secret; the one it
// replaces still signs (beside it) for overlap.
func (s *Store) RotateOutboundSecret(ctx context.Context, id int64, secret string, overlap time.Duration, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbound_endpoints SET old_secret = secret, old_secret_until = ?, secret = ?,
			updated_at = ? WHERE id = ?`, ms(tx.now.Add(overlap)), secret, ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		a.Target = "webhook_endpoint:" + itoa(id)
		a.Details = "secret rotated; the old one signs too until " + tx.now.Add(overlap).Format(time.RFC3339)
		return insertAudit(ctx, tx, a)
	})
}

// DeleteOutboundEndpoint removes an endpoint with its messages and their
// attempts, and audits it.
func (s *Store) DeleteOutboundEndpoint(ctx context.Context, id int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		var url string
		if err := tx.QueryRowContext(ctx, "SELECT url FROM outbound_endpoints WHERE id = ?", id).Scan(&url); err != nil {
			return mapErr(err)
		}
		// replayed_as points between messages of one endpoint: cleared first.
		if _, err := tx.ExecContext(ctx, "UPDATE outbound_messages SET replayed_as = NULL WHERE endpoint_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM outbound_endpoints WHERE id = ?", id); err != nil {
			return err
		}
		a.Target, a.Details = "webhook_endpoint:"+itoa(id), "deleted; url "+url
		return insertAudit(ctx, tx, a)
	})
}

// OutboundPrivateHosts are the hosts an admin allowed to resolve to a
// private, loopback or link-local address (the SSRF guard lets them
// through). They live in the settings row.
func (s *Store) OutboundPrivateHosts(ctx context.Context) ([]string, error) {
	st, err := s.GetSettings(ctx)
	return st.OutboundPrivateHosts, err
}

// SetOutboundPrivateHosts replaces that list and audits the change.
func (s *Store) SetOutboundPrivateHosts(ctx context.Context, hosts []string, actor int64, a AuditEntry) error {
	st, err := s.GetSettings(ctx)
	if err != nil {
		return err
	}
	st.OutboundPrivateHosts = hosts
	return s.SaveSettings(ctx, st, actor, a)
}

const messageCols = `m.id, m.msg_id, m.endpoint_id, m.type, COALESCE(m.link_id, 0), COALESCE(m.email_id, 0), m.snapshot,
	m.replay, COALESCE(m.replayed_as, 0), m.status, m.attempts, m.next_attempt_at, COALESCE(m.lease_token, ''),
	m.last_status, m.last_error, m.created_at, m.finished_at`

func scanMessage(r scanner, extra ...any) (OutboundMessage, error) {
	var m OutboundMessage
	var next, created int64
	var finished sql.NullInt64
	dest := append([]any{&m.ID, &m.MsgID, &m.EndpointID, &m.Type, &m.LinkID, &m.EmailID, &m.Snapshot, &m.Replay,
		&m.ReplayedAs, &m.Status, &m.Attempts, &next, &m.LeaseToken, &m.LastStatus, &m.LastError, &created, &finished}, extra...)
	if err := r.Scan(dest...); err != nil {
		return OutboundMessage{}, mapErr(err)
	}
	m.NextAt, m.CreatedAt, m.FinishedAt = fromMS(next), fromMS(created), nullMS(finished)
	return m, nil
}

// ClaimOutbound leases up to n due messages for lease and counts the
// attempt, in one transaction. A message is due when its time has come,
// its endpoint is enabled, no earlier message of the same link and
// endpoint is pending (in order per link per endpoint), and its endpoint
// has fewer than perEndpoint messages leased (a slow endpoint cannot take
// every worker). Each comes with its endpoint.
func (s *Store) ClaimOutbound(ctx context.Context, n, perEndpoint int, lease time.Duration) ([]OutboundMessage, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []OutboundMessage
	err := s.withPrepared(ctx, claimQueries, func(w *wtx) error {
		tx := w.Tx
		now := ms(tx.now)
		token := s.leasePrefix + rand.Text()
		// Per endpoint, what it may take now: perEndpoint less what is
		// leased (a partial index holds only leased rows).
		room := map[int64]int{}
		full := []int64{}
		rows, err := w.query(qLeased, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ep int64
			var leased int
			if err := rows.Scan(&ep, &leased); err != nil {
				rows.Close()
				return err
			}
			room[ep] = perEndpoint - leased
			if leased >= perEndpoint {
				full = append(full, ep)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		// Walk the due index in order; endpoints at their limit are left
		// out, so they cannot hide the others' messages.
		fullJSON, _ := json.Marshal(full)
		rows, err = w.query(qDue, now, string(fullJSON), 4*n)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id, ep int64
			if err := rows.Scan(&id, &ep); err != nil {
				rows.Close()
				return err
			}
			r, ok := room[ep]
			if !ok {
				r = perEndpoint
			}
			if r > 0 && len(ids) < n {
				ids = append(ids, id)
				room[ep] = r - 1
			}
		}
		if err := rows.Close(); err != nil || len(ids) == 0 {
			return err
		}
		for _, id := range ids {
			m, err := scanMessage(w.row(qClaim, ms(tx.now.Add(lease)), token, id))
			if err != nil {
				return err
			}
			if m.Endpoint, err = scanEndpoint(w.row(qEndpoint, m.EndpointID)); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// ReleaseDeadOutbound frees every message leased by another process (its
// lease token does not start with this Store's prefix) and makes it due
// now. Call it only while no other process can be delivering (the
// outbound worker holds the delivery lock), so those processes are dead.
// A message the dead process had sent goes again, under the same
// webhook-id (delivery is at least once). It returns how many it freed.
func (s *Store) ReleaseDeadOutbound(ctx context.Context) (int, error) {
	var n int64
	err := s.withTx(ctx, func(tx *Tx) error {
		now := ms(tx.now)
		res, err := tx.ExecContext(ctx, `UPDATE outbound_messages SET locked_until = NULL, lease_token = NULL,
			next_attempt_at = min(next_attempt_at, ?)
			WHERE status = 'pending' AND lease_token IS NOT NULL AND locked_until > ? AND substr(lease_token, 1, ?) <> ?`,
			now, now, len(s.leasePrefix), s.leasePrefix)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// The worker's statements, prepared once per Store (withPrepared).
const (
	qLeased = `SELECT endpoint_id, count(*) FROM outbound_messages
		WHERE status = 'pending' AND locked_until IS NOT NULL AND locked_until > ? GROUP BY endpoint_id`
	// qDue walks the due index in order, leaving out the endpoints at
	// their limit (?2, a JSON array), so they cannot hide the others'
	// messages.
	qDue = `SELECT m.id, m.endpoint_id FROM outbound_messages m INDEXED BY outbound_messages_due
		WHERE m.status = 'pending' AND m.next_attempt_at <= ?1 AND (m.locked_until IS NULL OR m.locked_until <= ?1)
			AND m.endpoint_id NOT IN (SELECT value FROM json_each(?2))
			AND EXISTS (SELECT 1 FROM outbound_endpoints e WHERE e.id = m.endpoint_id AND e.enabled = 1)
			AND NOT EXISTS (SELECT 1 FROM outbound_messages p WHERE p.endpoint_id = m.endpoint_id
				AND p.link_id = m.link_id AND p.status = 'pending' AND p.id < m.id)
		ORDER BY m.next_attempt_at, m.id LIMIT ?3`
	qEndpoint = "SELECT " + endpointCols + " FROM outbound_endpoints e WHERE e.id = ?"

	qAttempt   = "INSERT INTO outbound_attempts (message_id, at, duration_ms, http_status, error, response) VALUES (?, ?, ?, ?, ?, ?)"
	qDelivered = `UPDATE outbound_messages SET status = 'delivered', finished_at = ?, last_status = ?, last_error = '',
		locked_until = NULL, lease_token = NULL WHERE id = ? AND status = 'pending' AND lease_token = ?`
	qFailed = `UPDATE outbound_messages SET status = 'failed', finished_at = ?, last_status = ?, last_error = ?,
		locked_until = NULL, lease_token = NULL WHERE id = ? AND status = 'pending' AND lease_token = ?`
	qRetry = `UPDATE outbound_messages SET next_attempt_at = ?, last_status = ?, last_error = ?,
		locked_until = NULL, lease_token = NULL WHERE id = ? AND status = 'pending' AND lease_token = ?`
	qSucceeded = "UPDATE outbound_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL"
	qFailing   = "UPDATE outbound_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ? RETURNING failing_since"
)

var (
	qClaim = "UPDATE outbound_messages SET attempts = attempts + 1, locked_until = ?, lease_token = ? WHERE id = ? RETURNING " +
		strings.ReplaceAll(messageCols, "m.", "")
	claimQueries  = []string{qLeased, qDue, qClaim, qEndpoint}
	recordQueries = []string{qAttempt, qDelivered, qFailed, qRetry, qSucceeded, qFailing}
)

// withPrepared runs fn in a write transaction whose statements qs are
// prepared once per Store: the worker runs the same few for every batch.
func (s *Store) withPrepared(ctx context.Context, qs []string, fn func(*wtx) error) error {
	prepared := make(map[string]*sql.Stmt, len(qs))
	for _, q := range qs {
		st, err := s.prepared(ctx, true, q)
		if err != nil {
			return err
		}
		prepared[q] = st
	}
	return s.withTx(ctx, func(tx *Tx) error {
		w := newWTx(ctx, tx)
		w.prepared = prepared
		return fn(w)
	})
}

// OutboundAttempt is one delivery attempt: the log's line.
type OutboundAttempt struct {
	ID         int64
	MessageID  int64
	At         time.Time
	Duration   time.Duration
	HTTPStatus int // 0: no answer
	Error      string
	Response   string // the first 1 KiB of the answer
}

// OutboundOutcome is what one attempt did, to record.
type OutboundOutcome struct {
	Message   OutboundMessage // as claimed (its lease token)
	Attempt   OutboundAttempt
	Delivered bool
	// Next is when to try again; zero fails the message for good.
	Next time.Time
	// DisableAfter disables the endpoint when it has failed since this
	// long before the attempt (0: never).
	DisableAfter time.Duration
}

// OutboundRecorded says what recording did beyond the message itself.
type OutboundRecorded struct {
	Disabled []int64 // endpoints disabled for failing too long
}

// RecordOutbound records attempts, in one transaction: each attempt's log
// line, its message's new state (delivered, due again at Next, or
// failed), and its endpoint's failure record. An endpoint failing for
// DisableAfter is disabled, its pending messages failed, and the change
// audited. An outcome whose lease was lost (it expired and another worker
// claimed the message) is logged but changes nothing.
func (s *Store) RecordOutbound(ctx context.Context, outs []OutboundOutcome) (OutboundRecorded, error) {
	var rec OutboundRecorded
	err := s.withPrepared(ctx, recordQueries, func(w *wtx) error {
		tx := w.Tx
		rec = OutboundRecorded{}
		for _, o := range outs {
			a, m := o.Attempt, o.Message
			if _, err := w.exec(qAttempt, m.ID, ms(a.At), a.Duration.Milliseconds(), a.HTTPStatus, a.Error, a.Response); err != nil {
				return err
			}
			var res sql.Result
			var err error
			switch {
			case o.Delivered:
				res, err = w.exec(qDelivered, ms(tx.now), a.HTTPStatus, m.ID, m.LeaseToken)
			case o.Next.IsZero():
				res, err = w.exec(qFailed, ms(tx.now), a.HTTPStatus, a.Error, m.ID, m.LeaseToken)
			default:
				res, err = w.exec(qRetry, ms(o.Next), a.HTTPStatus, a.Error, m.ID, m.LeaseToken)
			}
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // the lease was lost: the newer claim's outcome counts
			}
			if o.Delivered {
				if _, err := w.exec(qSucceeded, m.EndpointID); err != nil {
					return err
				}
				continue
			}
			var since int64
			if err := w.row(qFailing, ms(a.At), m.EndpointID).Scan(&since); err != nil {
				return mapErr(err)
			}
			if o.DisableAfter > 0 && !a.At.Before(fromMS(since).Add(o.DisableAfter)) {
				disabled, err := disableEndpoint(ctx, tx, m.EndpointID, fromMS(since), a.At)
				if err != nil {
					return err
				}
				if disabled {
					rec.Disabled = append(rec.Disabled, m.EndpointID)
				}
			}
		}
		return nil
	})
	return rec, err
}

// disableEndpoint disables an endpoint that has failed since since, fails
// its pending messages and audits it; false when it was disabled already.
func disableEndpoint(ctx context.Context, tx *Tx, id int64, since, at time.Time) (bool, error) {
	reason := "every delivery failed since " + since.UTC().Format("2 Jan 2006 15:04 UTC")
	res, err := tx.ExecContext(ctx, `UPDATE outbound_endpoints SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ?
		WHERE id = ? AND enabled = 1`, reason, ms(at), ms(tx.now), id)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbound_messages SET status = 'failed', finished_at = ?,
		last_error = CASE WHEN last_error = '' THEN 'the endpoint was disabled' ELSE last_error || '; the endpoint was disabled' END,
		locked_until = NULL, lease_token = NULL WHERE endpoint_id = ? AND status = 'pending'`, ms(tx.now), id); err != nil {
		return false, err
	}
	return true, insertAudit(ctx, tx, AuditEntry{Action: "webhook_endpoint.disable", Target: "webhook_endpoint:" + itoa(id),
		Outcome: "failed", Details: "disabled by paylinks: " + reason})
}

// OutboundEndpointsFailing counts the endpoints paylinks disabled because
// every delivery failed for days: what the dashboard's Needs attention
// should list until an admin enables or deletes them.
func (s *Store) OutboundEndpointsFailing(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM outbound_endpoints WHERE enabled = 0 AND disabled_reason LIKE 'every delivery failed%'`).Scan(&n)
	return n, err
}

// OutboundMessageByID loads one message.
func (s *Store) OutboundMessageByID(ctx context.Context, id int64) (OutboundMessage, error) {
	return scanMessage(s.read.QueryRowContext(ctx, "SELECT "+messageCols+" FROM outbound_messages m WHERE m.id = ?", id))
}

// OutboundFilter selects messages for the delivery log or a replay.
type OutboundFilter struct {
	EndpointID int64
	LinkID     int64
	Type       string
	Status     string
	From, To   time.Time // created_at in [From, To)
	Before     int64     // ids below this only (a log's next page); 0: any
	Limit      int
}

func (f OutboundFilter) where() (string, []any) {
	var w []string
	var args []any
	if f.EndpointID != 0 {
		w, args = append(w, "m.endpoint_id = ?"), append(args, f.EndpointID)
	}
	if f.LinkID != 0 {
		w, args = append(w, "m.link_id = ?"), append(args, f.LinkID)
	}
	if f.Type != "" {
		w, args = append(w, "m.type = ?"), append(args, f.Type)
	}
	if f.Status != "" {
		w, args = append(w, "m.status = ?"), append(args, f.Status)
	}
	if !f.From.IsZero() {
		w, args = append(w, "m.created_at >= ?"), append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		w, args = append(w, "m.created_at < ?"), append(args, ms(f.To))
	}
	if f.Before > 0 {
		w, args = append(w, "m.id < ?"), append(args, f.Before)
	}
	if len(w) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(w, " AND "), args
}

// OutboundMessages lists messages, newest first (at most f.Limit, 100
// when unset).
func (s *Store) OutboundMessages(ctx context.Context, f OutboundFilter) ([]OutboundMessage, error) {
	where, args := f.where()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+messageCols+" FROM outbound_messages m"+where+" ORDER BY m.id DESC LIMIT ?",
		append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboundMessage
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// OutboundAttempts lists a message's attempts, oldest first.
func (s *Store) OutboundAttempts(ctx context.Context, messageID int64) ([]OutboundAttempt, error) {
	m, err := s.OutboundAttemptsOf(ctx, []int64{messageID})
	return m[messageID], err
}

// OutboundAttemptsOf lists the attempts of several messages in one read
// (a delivery log page), each message's oldest first.
func (s *Store) OutboundAttemptsOf(ctx context.Context, messageIDs []int64) (map[int64][]OutboundAttempt, error) {
	ids, _ := json.Marshal(messageIDs) // a slice of ints always marshals
	rows, err := s.read.QueryContext(ctx, `SELECT id, message_id, at, duration_ms, http_status, error, response
		FROM outbound_attempts WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY message_id, id`, string(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]OutboundAttempt{}
	for rows.Next() {
		var a OutboundAttempt
		var at, dur int64
		if err := rows.Scan(&a.ID, &a.MessageID, &at, &dur, &a.HTTPStatus, &a.Error, &a.Response); err != nil {
			return nil, err
		}
		a.At, a.Duration = fromMS(at), time.Duration(dur)*time.Millisecond
		out[a.MessageID] = append(out[a.MessageID], a)
	}
	return out, rows.Err()
}

// OutboundPendingFor counts an endpoint's messages still to be delivered.
func (s *Store) OutboundPendingFor(ctx context.Context, endpointID int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM outbound_messages WHERE endpoint_id = ? AND status = 'pending'", endpointID).Scan(&n)
	return n, err
}

// OutboundCountForLink counts the messages about a link, to every
// endpoint (its delivery log's length).
func (s *Store) OutboundCountForLink(ctx context.Context, linkID int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM outbound_messages WHERE link_id = ?", linkID).Scan(&n)
	return n, err
}

// ResendOutbound sends one message again, as it was (the same webhook-id
// and data): it becomes pending and due now. A pending message is left as
// it is (ErrConflict).
func (s *Store) ResendOutbound(ctx context.Context, id int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbound_messages SET status = 'pending', next_attempt_at = ?, finished_at = NULL,
			locked_until = NULL, lease_token = NULL WHERE id = ? AND status <> 'pending'`, ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var st string
			if err := tx.QueryRowContext(ctx, "SELECT status FROM outbound_messages WHERE id = ?", id).Scan(&st); err != nil {
				return mapErr(err)
			}
			return ErrConflict
		}
		a.Target, a.Details = "webhook_message:"+itoa(id), "resend"
		return insertAudit(ctx, tx, a)
	})
}

// SendOutboundTest queues a test message to one endpoint, whatever it
// subscribes to.
func (s *Store) SendOutboundTest(ctx context.Context, endpointID int64, a AuditEntry) (OutboundMessage, error) {
	var id int64
	err := s.withTx(ctx, func(tx *Tx) error {
		var err error
		id, err = insertMessage(ctx, tx, endpointID, OutboundTest, 0, 0, "{}", false)
		if err != nil {
			return err
		}
		a.Target, a.Details = "webhook_endpoint:"+itoa(endpointID), "test event webhook_message:"+itoa(id)
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return OutboundMessage{}, err
	}
	return s.OutboundMessageByID(ctx, id)
}

func insertMessage(ctx context.Context, tx *Tx, endpointID int64, typ string, linkID, emailID int64, snapshot string, replay bool) (int64, error) {
	var link, email any
	if linkID != 0 {
		link = linkID
	}
	if emailID != 0 {
		email = emailID
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO outbound_messages (msg_id, endpoint_id, type, link_id, email_id, snapshot, replay,
		created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		NewMsgID(), endpointID, typ, link, email, snapshot, replay, ms(tx.now), ms(tx.now)).Scan(&id)
	return id, mapErr(err)
}

// NewMsgID is a fresh webhook-id: msg_ and 24 hex digits, as the triggers
// make them.
func NewMsgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("msg_%x", b)
}

// ReplayPlan is what a bulk replay sends: one message per link (its state
// now) and one per message without a link.
type ReplayPlan struct {
	Failed   int // failed messages the filter selects, not replayed before
	Messages int // messages the replay queues
	Links    int // links among them
}

// ReplayOutbound replays failed messages that f selects (its Status is
// ignored) and no replay covered yet. Each link among them is sent once,
// with its state now, under the type of its newest selected message; a
// message without a link (a test) is sent again as it was; every one
// with a new webhook-id and "replay": true. The replayed messages are
// marked (replayed_as) so a second replay skips them. dryRun counts and
// changes nothing.
func (s *Store) ReplayOutbound(ctx context.Context, f OutboundFilter, dryRun bool, a AuditEntry) (ReplayPlan, error) {
	if f.EndpointID == 0 {
		return ReplayPlan{}, errors.New("db: a replay needs an endpoint")
	}
	f.Status, f.LinkID, f.Limit, f.Before = OutboundFailed, 0, 0, 0
	where, args := f.where()
	where += " AND m.replayed_as IS NULL"
	var plan ReplayPlan
	run := func(tx *Tx) error {
		plan = ReplayPlan{}
		rows, err := tx.QueryContext(ctx, "SELECT "+messageCols+" FROM outbound_messages m"+where+" ORDER BY m.id", args...)
		if err != nil {
			return err
		}
		var msgs []OutboundMessage
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return err
			}
			msgs = append(msgs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		plan.Failed = len(msgs)
		newest := map[int64]OutboundMessage{} // link → its newest selected message
		var order []int64
		var linkless []OutboundMessage
		for _, m := range msgs {
			if m.LinkID == 0 {
				linkless = append(linkless, m)
				continue
			}
			if _, ok := newest[m.LinkID]; !ok {
				order = append(order, m.LinkID)
			}
			newest[m.LinkID] = m
		}
		plan.Links, plan.Messages = len(order), len(order)+len(linkless)
		if dryRun {
			return nil
		}
		replayedAs := map[int64]int64{}
		for _, link := range order {
			m := newest[link]
			var snap string
			if err := tx.QueryRowContext(ctx, "SELECT "+linkSnapshotSQL+" FROM links l WHERE l.id = ?", link).Scan(&snap); err != nil {
				return mapErr(err)
			}
			if m.EmailID != 0 { // an email event keeps its email, with the link now
				var old, cur OutboundSnapshot
				_ = json.Unmarshal([]byte(m.Snapshot), &old)
				_ = json.Unmarshal([]byte(snap), &cur)
				cur.Email = old.Email
				b, _ := json.Marshal(cur)
				snap = string(b)
			}
			id, err := insertMessage(ctx, tx, f.EndpointID, m.Type, link, m.EmailID, snap, true)
			if err != nil {
				return err
			}
			replayedAs[link] = id
		}
		for _, m := range linkless {
			id, err := insertMessage(ctx, tx, f.EndpointID, m.Type, 0, 0, m.Snapshot, true)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE outbound_messages SET replayed_as = ? WHERE id = ?", id, m.ID); err != nil {
				return err
			}
		}
		for _, m := range msgs {
			if m.LinkID == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE outbound_messages SET replayed_as = ? WHERE id = ?", replayedAs[m.LinkID], m.ID); err != nil {
				return err
			}
		}
		a.Target = "webhook_endpoint:" + itoa(f.EndpointID)
		a.Details = fmt.Sprintf("replay of %d failed messages (type %q, from %s to %s): %d queued for %d links",
			plan.Failed, f.Type, fmtTime(f.From), fmtTime(f.To), plan.Messages, plan.Links)
		return insertAudit(ctx, tx, a)
	}
	if dryRun {
		// A read in a write transaction would take the writer; the count
		// runs on a read transaction instead.
		rtx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return ReplayPlan{}, err
		}
		defer rtx.Rollback()
		err = run(&Tx{Tx: rtx, now: s.Now().UTC()})
		return plan, err
	}
	err := s.withTx(ctx, run)
	return plan, err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "any time"
	}
	return t.UTC().Format(time.RFC3339)
}

// OutboundPending counts messages waiting to be delivered.
func (s *Store) OutboundPending(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM outbound_messages WHERE status = 'pending'").Scan(&n)
	return n, err
}
