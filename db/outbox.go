package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Email statuses (outbox.status).
const (
	EmailQueued    = "queued"    // waiting for the worker, also between retries
	EmailSent      = "sent"      // the SMTP server accepted it
	EmailKept      = "kept"      // no SMTP server configured: kept in the local mailbox, not sent
	EmailFailed    = "failed"    // refused for good, or out of attempts
	EmailCancelled = "cancelled" // the link stopped being payable before it went
)

// Email kinds (outbox.kind). The mail worker checks the link's status at
// send time for customer and reminder rows only: a staff notification is
// about a paid or failed link and goes whatever the link's status.
const (
	KindCustomer = "customer" // staff emailed the link to its customer
	KindReminder = "reminder" // the reminder job reminded the customer
	KindStaff    = "staff"    // a notification to a colleague; no link of its own (LinkID 0)
)

// Email is one outbox row: a message to a customer about a link.
type Email struct {
	ID            int64
	LinkID        int64 // 0 for a staff notification
	Kind          string
	BatchID       int64
	ResendOf      int64
	ResentAs      int64 // the row that resent this one, if any
	Status        string
	MessageID     string // without angle brackets
	FromAddr      string
	FromName      string
	ToAddr        string
	ToName        string
	Subject       string
	Text          string
	HTML          string
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   time.Time // zero when not claimed
	LeaseToken    string
	LastError     string
	ServerReply   string
	CreatedBy     int64
	CreatedByName string
	CreatedAt     time.Time
	FinishedAt    time.Time
	UpdatedAt     time.Time
}

// Claimed reports whether a worker holds the row's lease at now.
func (e Email) Claimed(now time.Time) bool {
	return e.Status == EmailQueued && !e.LockedUntil.IsZero() && e.LockedUntil.After(now)
}

// NewEmail is a rendered message to queue for a link.
type NewEmail struct {
	LinkID    int64
	FormToken string // optional; the same token finds the first row again
	FromAddr  string
	FromName  string
	ToAddr    string
	ToName    string
	Subject   string
	Text      string
	HTML      string
	// MessageIDDomain is the right-hand side of the Message-ID, normally
	// the sender's domain.
	MessageIDDomain string
	CreatedBy       int64
	// Kind is KindCustomer when empty. A staff row has no LinkID.
	Kind string
	// DedupeKey, when set, queues the row at most once: a second insert
	// with the same key queues nothing (reminders, notifications).
	DedupeKey string
}

// BatchSkip is a link of a batch that was not emailed, and why.
type BatchSkip struct {
	LinkID int64  `json:"linkId"`
	Reason string `json:"reason"`
	// Recent: skipped because the customer was emailed about the link in
	// the last 24 hours; the batch page offers to email it again.
	Recent bool `json:"recent,omitempty"`
}

// EmailBatch is one "email these links" action.
type EmailBatch struct {
	ID            int64
	CreatedBy     int64
	CreatedByName string
	CreatedAt     time.Time
	Skipped       []BatchSkip
}

const emailCols = `o.id, COALESCE(o.link_id, 0), o.kind, COALESCE(o.batch_id, 0), COALESCE(o.resend_of, 0),
	COALESCE((SELECT r.id FROM outbox r WHERE r.resend_of = o.id), 0), o.status, o.message_id,
	o.from_addr, o.from_name, o.to_addr, o.to_name, o.subject, o.body_text, o.body_html, o.attempts,
	o.next_attempt_at, o.locked_until, COALESCE(o.lease_token, ''), o.last_error, o.server_reply,
	o.created_by, COALESCE(u.name, ''), o.created_at, o.finished_at, o.updated_at`

const emailFrom = ` FROM outbox o LEFT JOIN users u ON u.id = o.created_by`

func scanEmail(r scanner) (Email, error) {
	var e Email
	var next, created, updated int64
	var locked, finished sql.NullInt64
	err := r.Scan(&e.ID, &e.LinkID, &e.Kind, &e.BatchID, &e.ResendOf, &e.ResentAs, &e.Status, &e.MessageID,
		&e.FromAddr, &e.FromName, &e.ToAddr, &e.ToName, &e.Subject, &e.Text, &e.HTML, &e.Attempts,
		&next, &locked, &e.LeaseToken, &e.LastError, &e.ServerReply,
		&e.CreatedBy, &e.CreatedByName, &created, &finished, &updated)
	if err != nil {
		return Email{}, mapErr(err)
	}
	e.NextAttemptAt, e.LockedUntil = fromMS(next), nullMS(locked)
	e.CreatedAt, e.FinishedAt, e.UpdatedAt = fromMS(created), nullMS(finished), fromMS(updated)
	return e, nil
}

func queryEmails(ctx context.Context, db querier, q string, args ...any) ([]Email, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Email
	for rows.Next() {
		e, err := scanEmail(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// emailOn names the address for a timeline line.
func emailOn(addr, name string) string {
	if name == "" {
		return addr
	}
	return name + " <" + addr + ">"
}

// errDeduped is insertEmail's answer when a row with the same DedupeKey
// exists: nothing was queued.
var errDeduped = errors.New("db: an email with this dedupe key is queued already")

// insertEmail adds a queued row and, for a link's email, its "email"
// timeline entry, and gives it a Message-ID made from its id and a random
// part: <outbox-12.k7m2q9x4f3b8d1z6@acme.example>. A customer email also
// starts the link's reminder schedule (noteFirstEmail). A row whose
// DedupeKey is taken already is not inserted: errDeduped.
func insertEmail(ctx context.Context, tx *Tx, ne NewEmail, batchID, resendOf int64, note string) (int64, error) {
	var formToken, batch, resend, link, dedupe any
	if ne.FormToken != "" {
		formToken = ne.FormToken
	}
	if batchID != 0 {
		batch = batchID
	}
	if resendOf != 0 {
		resend = resendOf
	}
	if ne.LinkID != 0 {
		link = ne.LinkID
	}
	if ne.DedupeKey != "" {
		dedupe = ne.DedupeKey
	}
	kind := ne.Kind
	if kind == "" {
		kind = KindCustomer
	}
	domain := ne.MessageIDDomain
	if domain == "" {
		domain = "paylinks.localhost"
	}
	random := strings.ToLower(rand.Text()[:16])
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO outbox (link_id, batch_id, resend_of, form_token, status, message_id,
		from_addr, from_name, to_addr, to_name, subject, body_text, body_html, next_attempt_at, created_by, created_at, updated_at,
		kind, dedupe_key)
		VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		link, batch, resend, formToken, "pending."+random+"@"+domain,
		ne.FromAddr, ne.FromName, ne.ToAddr, ne.ToName, ne.Subject, ne.Text, ne.HTML,
		ms(tx.now), ne.CreatedBy, ms(tx.now), ms(tx.now), kind, dedupe).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errDeduped
	}
	if err != nil {
		return 0, mapErr(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE outbox SET message_id = ? WHERE id = ?",
		"outbox-"+itoa(id)+"."+random+"@"+domain, id); err != nil {
		return 0, mapErr(err)
	}
	if ne.LinkID == 0 {
		return id, nil
	}
	if kind == KindCustomer {
		if err := noteFirstEmail(ctx, tx, ne.LinkID, ne.ToAddr, ne.ToName); err != nil {
			return 0, err
		}
	}
	msg := "Email #" + itoa(id) + " queued to " + emailOn(ne.ToAddr, ne.ToName) + ": " + ne.Subject
	if note != "" {
		msg += " (" + note + ")"
	}
	actor := ne.CreatedBy
	if ne.DedupeKey != "" {
		actor = 0 // paylinks itself queued it (a reminder)
	}
	return id, insertLinkEvent(ctx, tx, ne.LinkID, "email", actor, msg, id)
}

// QueueEmail commits an email for a link in one transaction with its
// timeline entry and audit entry; the worker sends it after the commit. A
// second call with the same FormToken (a double click) queues nothing and
// returns the first row with created=false.
func (s *Store) QueueEmail(ctx context.Context, ne NewEmail, a AuditEntry) (e Email, created bool, err error) {
	var id int64
	err = s.withTx(ctx, func(tx *Tx) error {
		if ne.FormToken != "" {
			err := tx.QueryRowContext(ctx, "SELECT id FROM outbox WHERE form_token = ?", ne.FormToken).Scan(&id)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if id, err = insertEmail(ctx, tx, ne, 0, 0, ""); err != nil {
			return err
		}
		created = true
		a.Target = linkTarget(ne.LinkID)
		a.Details = "outbox:" + itoa(id) + " to " + ne.ToAddr
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return Email{}, false, err
	}
	e, err = s.EmailByID(ctx, id)
	return e, created, err
}

// QueueEmailBatch commits one batch: a row per email, each with its own
// timeline and audit entries, plus the batch and the links it skipped. A
// resubmitted form (same formToken) queues nothing and returns the first
// batch with created=false.
func (s *Store) QueueEmailBatch(ctx context.Context, formToken string, actor int64, emails []NewEmail, skipped []BatchSkip, a AuditEntry) (batchID int64, created bool, err error) {
	err = s.withTx(ctx, func(tx *Tx) error {
		var tok any
		if formToken != "" {
			tok = formToken
			err := tx.QueryRowContext(ctx, "SELECT id FROM email_batches WHERE form_token = ?", formToken).Scan(&batchID)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if skipped == nil {
			skipped = []BatchSkip{}
		}
		sk, err := json.Marshal(skipped)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO email_batches (form_token, created_by, created_at, skipped) VALUES (?, ?, ?, ?)",
			tok, actor, ms(tx.now), string(sk))
		if err != nil {
			return mapErr(err)
		}
		if batchID, err = res.LastInsertId(); err != nil {
			return err
		}
		created = true
		for _, ne := range emails {
			ne.FormToken = ""
			id, err := insertEmail(ctx, tx, ne, batchID, 0, "batch #"+itoa(batchID))
			if err != nil {
				return err
			}
			ea := a
			ea.Action, ea.Target = "email.queue", linkTarget(ne.LinkID)
			ea.Details = "outbox:" + itoa(id) + " to " + ne.ToAddr + " in batch:" + itoa(batchID)
			if err := insertAudit(ctx, tx, ea); err != nil {
				return err
			}
		}
		a.Target = "email_batch:" + itoa(batchID)
		a.Details = fmt.Sprintf("%d queued, %d skipped", len(emails), len(skipped))
		return insertAudit(ctx, tx, a)
	})
	return batchID, created, err
}

// ResendEmail queues a new row with the content of a failed one (a new
// Message-ID: it is a new message). Only a failed email can be resent, and
// only once; the resend may itself be resent if it fails.
func (s *Store) ResendEmail(ctx context.Context, id, actor int64, messageIDDomain string, a AuditEntry) (Email, error) {
	var newID int64
	err := s.withTx(ctx, func(tx *Tx) error {
		old, err := scanEmail(tx.QueryRowContext(ctx, "SELECT "+emailCols+emailFrom+" WHERE o.id = ?", id))
		if err != nil {
			return err
		}
		if old.Status != EmailFailed || old.ResentAs != 0 {
			return ErrConflict
		}
		newID, err = insertEmail(ctx, tx, NewEmail{
			LinkID: old.LinkID, FromAddr: old.FromAddr, FromName: old.FromName, ToAddr: old.ToAddr, ToName: old.ToName,
			Subject: old.Subject, Text: old.Text, HTML: old.HTML, MessageIDDomain: messageIDDomain, CreatedBy: actor,
			Kind: old.Kind,
		}, 0, old.ID, "a resend of #"+itoa(old.ID))
		if err != nil {
			return err
		}
		a.Target = linkTarget(old.LinkID)
		a.Details = "outbox:" + itoa(newID) + " resends outbox:" + itoa(old.ID) + " to " + old.ToAddr
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return Email{}, err
	}
	return s.EmailByID(ctx, newID)
}

// ClaimEmail leases the next due email to the calling worker for lease and
// counts the attempt. Only a queued row that is due, under maxAttempts and
// not leased (or whose lease expired: its worker died) can be claimed, in
// one UPDATE, so two workers never hold the same row. The lease token in
// the returned row must accompany the outcome. Rows whose last allowed
// attempt never reported back are failed first. ErrNotFound: nothing due.
func (s *Store) ClaimEmail(ctx context.Context, lease time.Duration, maxAttempts int) (Email, error) {
	var id int64
	err := s.withTx(ctx, func(tx *Tx) error {
		if err := failAbandoned(ctx, tx, maxAttempts); err != nil {
			return err
		}
		now := ms(tx.now)
		err := tx.QueryRowContext(ctx, `UPDATE outbox SET attempts = attempts + 1, locked_until = ?, lease_token = ?, updated_at = ?
			WHERE id = (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? AND attempts < ?
				AND (locked_until IS NULL OR locked_until <= ?) ORDER BY next_attempt_at, id LIMIT 1)
			AND status = 'queued' AND (locked_until IS NULL OR locked_until <= ?)
			RETURNING id`,
			ms(tx.now.Add(lease)), s.leasePrefix+rand.Text(), now, now, maxAttempts, now, now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing due; keep what failAbandoned did
		}
		return err
	})
	if err != nil {
		return Email{}, err
	}
	if id == 0 {
		return Email{}, ErrNotFound
	}
	return s.EmailByID(ctx, id)
}

// ReleaseDeadLeases frees every outbox row leased by another process and
// makes it due now: call it only when no other process can be sending
// (outbox.Mailer holds the database's mailer lock), so those processes are
// dead. Each row's link timeline says so. It returns how many it freed.
// A row whose message the dead process had handed over goes again, with
// the same Message-ID (delivery is at least once).
func (s *Store) ReleaseDeadLeases(ctx context.Context) (int, error) {
	n := 0
	err := s.withTx(ctx, func(tx *Tx) error {
		now := ms(tx.now)
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET locked_until = NULL, lease_token = NULL,
			next_attempt_at = min(next_attempt_at, ?), updated_at = ?
			WHERE status = 'queued' AND lease_token IS NOT NULL AND locked_until > ? AND substr(lease_token, 1, ?) <> ?
			RETURNING id, COALESCE(link_id, 0)`, now, now, now, len(s.leasePrefix), s.leasePrefix)
		if err != nil {
			return err
		}
		type freed struct{ id, link int64 }
		var all []freed
		for rows.Next() {
			var f freed
			if err := rows.Scan(&f.id, &f.link); err != nil {
				rows.Close()
				return err
			}
			all = append(all, f)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, f := range all {
			if f.link == 0 {
				continue
			}
			if err := insertLinkEvent(ctx, tx, f.link, "email", 0, "Email #"+itoa(f.id)+
				": the paylinks process that was sending it stopped; it is tried again now.", f.id); err != nil {
				return err
			}
		}
		n = len(all)
		return nil
	})
	return n, err
}

// failAbandoned fails rows whose last allowed attempt was claimed and never
// reported back: the worker died mid-send, and the message may or may not
// have arrived. Staff see it and can resend.
func failAbandoned(ctx context.Context, tx *Tx, maxAttempts int) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, COALESCE(link_id, 0), attempts FROM outbox
		WHERE status = 'queued' AND attempts >= ? AND locked_until IS NOT NULL AND locked_until <= ?`, maxAttempts, ms(tx.now))
	if err != nil {
		return err
	}
	type row struct{ id, link, attempts int64 }
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.link, &r.attempts); err != nil {
			rows.Close()
			return err
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range list {
		reason := fmt.Sprintf("gave up after %d attempts; the last one did not report back (paylinks stopped while sending), so the customer may or may not have it", r.attempts)
		if err := finishEmail(ctx, tx, r.id, "", EmailFailed, reason, "", nil); err != nil {
			return err
		}
		if r.link == 0 {
			continue // a staff notification: no link timeline
		}
		if err := insertLinkEvent(ctx, tx, r.link, "email", 0, "Email #"+itoa(r.id)+" failed: "+reason+".", r.id); err != nil {
			return err
		}
	}
	return nil
}

// finishEmail moves a queued row held with token (any holder when token
// is "") to a final status. ErrConflict: the lease was lost (it expired and
// another worker claimed the row, or the row is final already).
func finishEmail(ctx context.Context, tx *Tx, id int64, token, status, lastError, reply string, raw []byte) error {
	q := `UPDATE outbox SET status = ?, last_error = ?, server_reply = ?, raw_message = COALESCE(?, raw_message),
		finished_at = ?, locked_until = NULL, lease_token = NULL, updated_at = ?
		WHERE id = ? AND status = 'queued'`
	var rawArg any // NULL keeps the column as it is
	if raw != nil {
		rawArg = raw
	}
	args := []any{status, lastError, reply, rawArg, ms(tx.now), ms(tx.now), id}
	if token != "" {
		q += " AND lease_token = ?"
		args = append(args, token)
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// emailOutcome finishes a claimed row and adds its timeline line.
func (s *Store) emailOutcome(ctx context.Context, e Email, status, lastError, reply string, raw []byte, msg string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if err := finishEmail(ctx, tx, e.ID, e.LeaseToken, status, lastError, reply, raw); err != nil {
			return err
		}
		if e.LinkID == 0 {
			return nil // a staff notification: no link timeline
		}
		return insertLinkEvent(ctx, tx, e.LinkID, "email", 0, msg, e.ID)
	})
}

// MarkEmailSent records that the SMTP server accepted a claimed email.
func (s *Store) MarkEmailSent(ctx context.Context, e Email, reply string) error {
	msg := "Email #" + itoa(e.ID) + " sent to " + emailOn(e.ToAddr, e.ToName) + "."
	if reply != "" {
		msg += " The mail server answered: " + reply
	}
	return s.emailOutcome(ctx, e, EmailSent, "", reply, nil, msg)
}

// KeepEmail stores a claimed email in the local mailbox instead of sending
// it (no SMTP server is configured). raw is the rendered message.
func (s *Store) KeepEmail(ctx context.Context, e Email, raw []byte) error {
	if raw == nil {
		raw = []byte{}
	}
	return s.emailOutcome(ctx, e, EmailKept, "", "", raw,
		"Email #"+itoa(e.ID)+" kept in the local mailbox, not sent: no mail server is set up.")
}

// FailEmail records a permanent failure of a claimed email.
func (s *Store) FailEmail(ctx context.Context, e Email, reason string) error {
	return s.emailOutcome(ctx, e, EmailFailed, reason, "", nil, "Email #"+itoa(e.ID)+" failed: "+reason)
}

// CancelEmail drops a claimed email without sending it.
func (s *Store) CancelEmail(ctx context.Context, e Email, reason string) error {
	return s.emailOutcome(ctx, e, EmailCancelled, reason, "", nil, "Email #"+itoa(e.ID)+" not sent: "+reason)
}

// RetryEmail releases a claimed email after a transient failure, to be
// claimed again from next.
func (s *Store) RetryEmail(ctx context.Context, e Email, next time.Time, reason string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?, last_error = ?, locked_until = NULL,
			lease_token = NULL, updated_at = ? WHERE id = ? AND status = 'queued' AND lease_token = ?`,
			ms(next), reason, ms(tx.now), e.ID, e.LeaseToken)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		if e.LinkID == 0 {
			return nil
		}
		return insertLinkEvent(ctx, tx, e.LinkID, "email", 0, fmt.Sprintf("Email #%d attempt %d failed: %s. Next attempt at %s.",
			e.ID, e.Attempts, reason, next.UTC().Format("2 Jan 2006 15:04:05 UTC")), e.ID)
	})
}

// EmailByID loads one email (without the raw message).
func (s *Store) EmailByID(ctx context.Context, id int64) (Email, error) {
	return scanEmail(s.read.QueryRowContext(ctx, "SELECT "+emailCols+emailFrom+" WHERE o.id = ?", id))
}

// LinkEmails lists a link's emails, newest first.
func (s *Store) LinkEmails(ctx context.Context, linkID int64) ([]Email, error) {
	return queryEmails(ctx, s.read, "SELECT "+emailCols+emailFrom+" WHERE o.link_id = ? ORDER BY o.id DESC", linkID)
}

// FailedEmails lists failed emails to customers (reminders included) that
// nobody has resent yet, newest first: what needs staff attention.
func (s *Store) FailedEmails(ctx context.Context, limit int) ([]Email, error) {
	return queryEmails(ctx, s.read, "SELECT "+emailCols+emailFrom+` WHERE o.status = 'failed' AND o.link_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM outbox r WHERE r.resend_of = o.id) ORDER BY o.finished_at DESC, o.id DESC LIMIT ?`, limit)
}

// EmailBatchByID loads a batch.
func (s *Store) EmailBatchByID(ctx context.Context, id int64) (EmailBatch, error) {
	var b EmailBatch
	var at int64
	var skipped string
	err := s.read.QueryRowContext(ctx, `SELECT b.id, b.created_by, COALESCE(u.name, ''), b.created_at, b.skipped
		FROM email_batches b LEFT JOIN users u ON u.id = b.created_by WHERE b.id = ?`, id).
		Scan(&b.ID, &b.CreatedBy, &b.CreatedByName, &at, &skipped)
	if err != nil {
		return EmailBatch{}, mapErr(err)
	}
	b.CreatedAt = fromMS(at)
	if err := json.Unmarshal([]byte(skipped), &b.Skipped); err != nil {
		return EmailBatch{}, fmt.Errorf("batch %d: skipped list: %w", id, err)
	}
	return b, nil
}

// BatchEmails lists a batch's emails in link order.
func (s *Store) BatchEmails(ctx context.Context, batchID int64) ([]Email, error) {
	return queryEmails(ctx, s.read, "SELECT "+emailCols+emailFrom+" WHERE o.batch_id = ? ORDER BY o.id", batchID)
}

// RecentEmail is the last email about a link to one address: who queued
// it and when, for the "emailed already" confirmation.
type RecentEmail struct {
	ID        int64
	ToAddr    string
	ToName    string
	Status    string // queued (also while retrying), sent or kept
	CreatedAt time.Time
	ByName    string
	ByEmail   string
}

// RecentLinkEmail is the newest email about linkID to toAddr (in any case)
// queued at or after since that went or may still go: queued, sent or kept
// (failed and cancelled ones never reached the customer). The row queued
// with exceptToken (the form being submitted again: a double click) is
// left out. ErrNotFound when there is none.
func (s *Store) RecentLinkEmail(ctx context.Context, linkID int64, toAddr string, since time.Time, exceptToken string) (RecentEmail, error) {
	var r RecentEmail
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT o.id, o.to_addr, o.to_name, o.status, o.created_at, COALESCE(u.name, ''), COALESCE(u.email, '')
		FROM outbox o LEFT JOIN users u ON u.id = o.created_by
		WHERE o.link_id = ? AND o.to_addr = ? COLLATE NOCASE AND o.status IN ('queued', 'sent', 'kept') AND o.created_at >= ?
			AND (o.form_token IS NULL OR o.form_token != ?)
		ORDER BY o.id DESC LIMIT 1`, linkID, toAddr, ms(since), exceptToken).
		Scan(&r.ID, &r.ToAddr, &r.ToName, &r.Status, &at, &r.ByName, &r.ByEmail)
	if err != nil {
		return RecentEmail{}, mapErr(err)
	}
	r.CreatedAt = fromMS(at)
	return r, nil
}

// OutboxDepth counts emails waiting to be sent (queued, including those
// scheduled for a retry), for the metrics gauge.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE status = 'queued'").Scan(&n)
	return n, err
}
