package db

import (
	"context"
	"errors"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// Staff notifications: the webhook ingest transaction records what
// happened to a link (one row in staff_notifications per change: paid,
// failed, needs attention), and the notification job (outbox/notify.go)
// turns each row into emails to the link's creator and the team addresses,
// marking the row done in the same transaction as the outbox rows. The
// daily digest reads the same rows.

// Notification choices, per user (users.notify).
const (
	NotifyImmediate = "immediate" // an email as each thing happens (the default)
	NotifyDigest    = "digest"    // one email a day listing the day's events
	NotifyOff       = "off"       // no email
)

// ValidNotify reports a known choice.
func ValidNotify(v string) bool {
	return v == NotifyImmediate || v == NotifyDigest || v == NotifyOff
}

// Notification events (staff_notifications.event), most pressing first:
// one change records one event, the first of these that applies.
const (
	NotifyPaidAfterCancel = "paid_after_cancel"
	NotifyPaidAfterExpiry = "paid_after_expiry"
	NotifyNeedsReview     = "needs_review"
	NotifyPaid            = "paid"
	NotifyFailed          = "failed"
)

// qNotify is the one statement the ingest path adds per notifying change.
const qNotify = "INSERT INTO staff_notifications (link_id, event, status, at) VALUES (?, ?, ?, ?)"

// notifyEvent says which event, if any, a link change raises for staff:
// a flag newly set (payment after cancel or expiry, an amount or currency
// that differed), else reaching paid (or settled without paid first) or
// failed. "" raises nothing.
func notifyEvent(from, to paylink.Status, newCancel, newExpiry, newReview bool) string {
	paidLike := func(s paylink.Status) bool { return s == paylink.StatusPaid || s == paylink.StatusSettled }
	switch {
	case newCancel:
		return NotifyPaidAfterCancel
	case newExpiry:
		return NotifyPaidAfterExpiry
	case newReview:
		return NotifyNeedsReview
	case paidLike(to) && !paidLike(from):
		return NotifyPaid
	case to == paylink.StatusFailed && from != paylink.StatusFailed:
		return NotifyFailed
	}
	return ""
}

// NotifyPreference is a user's choice (NotifyImmediate when never set).
func (s *Store) NotifyPreference(ctx context.Context, userID int64) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, "SELECT notify FROM users WHERE id = ?", userID).Scan(&v)
	return v, mapErr(err)
}

// SetNotifyPreference stores a user's choice and audits it.
func (s *Store) SetNotifyPreference(ctx context.Context, userID int64, pref string, a AuditEntry) error {
	if !ValidNotify(pref) {
		return errors.New("db: unknown notification choice " + pref)
	}
	return s.withTx(ctx, func(tx *Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, "SELECT notify FROM users WHERE id = ?", userID).Scan(&old); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET notify = ?, updated_at = ? WHERE id = ?", pref, ms(tx.now), userID); err != nil {
			return err
		}
		a.Target, a.Details = "user:"+itoa(userID), "notifications from "+old+" to "+pref
		return insertAudit(ctx, tx, a)
	})
}

// StaffEvent is one recorded change, with what a notification about it
// says and who hears about it. It carries no KYC data.
type StaffEvent struct {
	ID               int64
	LinkID           int64
	Event            string
	Status           paylink.Status // the link's status after the change
	At               time.Time
	CustomerID       string
	AmountMinor      int64
	Currency         string
	WebsiteReference string
	// The link's creator and their choice.
	CreatorID       int64
	CreatorEmail    string
	CreatorName     string
	CreatorRole     paylink.Role
	CreatorDisabled bool
	CreatorNotify   string
}

const staffEventCols = `n.id, n.link_id, n.event, n.status, n.at, l.customer_id, l.amount_minor, l.currency,
	l.website_reference, u.id, u.email, u.name, u.role, u.disabled, u.notify`

const staffEventFrom = ` FROM staff_notifications n JOIN links l ON l.id = n.link_id JOIN users u ON u.id = l.created_by`

func queryStaffEvents(ctx context.Context, q querier, query string, args ...any) ([]StaffEvent, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StaffEvent
	for rows.Next() {
		var e StaffEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.LinkID, &e.Event, &e.Status, &at, &e.CustomerID, &e.AmountMinor, &e.Currency,
			&e.WebsiteReference, &e.CreatorID, &e.CreatorEmail, &e.CreatorName, &e.CreatorRole, &e.CreatorDisabled,
			&e.CreatorNotify); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PendingStaffEvents lists, oldest first, at most limit changes not yet
// turned into emails.
func (s *Store) PendingStaffEvents(ctx context.Context, limit int) ([]StaffEvent, error) {
	return queryStaffEvents(ctx, s.read, "SELECT "+staffEventCols+staffEventFrom+
		" WHERE n.processed_at IS NULL ORDER BY n.id LIMIT ?", limit)
}

// CompleteStaffEvent queues the event's emails (kind staff, each with its
// dedupe key) and marks the event done, in one transaction: an event is
// turned into emails once, whichever process gets there first. It says how
// many rows it queued.
func (s *Store) CompleteStaffEvent(ctx context.Context, id int64, emails []NewEmail) (int, error) {
	queued := 0
	err := s.withTx(ctx, func(tx *Tx) error {
		queued = 0
		res, err := tx.ExecContext(ctx, "UPDATE staff_notifications SET processed_at = ? WHERE id = ? AND processed_at IS NULL", ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // done by another run
		}
		for _, ne := range emails {
			ne.Kind, ne.LinkID = KindStaff, 0
			if _, err := insertEmail(ctx, tx, ne, 0, 0, ""); err != nil && !errors.Is(err, errDeduped) {
				return err
			} else if err == nil {
				queued++
			}
		}
		return nil
	})
	return queued, err
}

// DigestRecipient is a user who chose the daily digest.
type DigestRecipient struct {
	ID          int64
	Email, Name string
}

// DigestRecipients lists the active, non-viewer users who chose the
// digest.
func (s *Store) DigestRecipients(ctx context.Context) ([]DigestRecipient, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, email, name FROM users
		WHERE notify = 'digest' AND disabled = 0 AND role <> 'viewer' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DigestRecipient
	for rows.Next() {
		var r DigestRecipient
		if err := rows.Scan(&r.ID, &r.Email, &r.Name); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StaffEventsFor lists the changes to links userID created, recorded in
// [from, to), oldest first.
func (s *Store) StaffEventsFor(ctx context.Context, userID int64, from, to time.Time) ([]StaffEvent, error) {
	return queryStaffEvents(ctx, s.read, "SELECT "+staffEventCols+staffEventFrom+
		" WHERE n.at >= ? AND n.at < ? AND l.created_by = ? ORDER BY n.id", ms(from), ms(to), userID)
}

// StaffEmailQueued reports whether a staff email with this dedupe key was
// queued already.
func (s *Store) StaffEmailQueued(ctx context.Context, dedupeKey string) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE dedupe_key = ?", dedupeKey).Scan(&n)
	return n > 0, err
}

// QueueStaffEmail queues one staff email (its DedupeKey required): false
// when one with that key was queued before.
func (s *Store) QueueStaffEmail(ctx context.Context, ne NewEmail) (bool, error) {
	if ne.DedupeKey == "" {
		return false, errors.New("db: a staff email needs a dedupe key")
	}
	queued := false
	err := s.withTx(ctx, func(tx *Tx) error {
		ne.Kind, ne.LinkID = KindStaff, 0
		_, err := insertEmail(ctx, tx, ne, 0, 0, "")
		if errors.Is(err, errDeduped) {
			return nil
		}
		queued = err == nil
		return err
	})
	return queued, err
}

// StaffEmails lists staff emails, newest first (for tests and operators).
func (s *Store) StaffEmails(ctx context.Context, limit int) ([]Email, error) {
	return queryEmails(ctx, s.read, "SELECT "+emailCols+emailFrom+" WHERE o.kind = 'staff' ORDER BY o.id DESC LIMIT ?", limit)
}
