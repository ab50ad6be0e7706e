package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// ReminderRule says when an emailed open link's customer is reminded: once
// BeforeHours before the link expires, and every AfterDays days after the
// first email, at most Max reminders in all. The settings hold the rule
// every link follows; a link may have its own (SetLinkReminders).
type ReminderRule struct {
	BeforeExpiry bool `json:"beforeExpiry"`
	BeforeHours  int  `json:"beforeHours"`
	AfterEmail   bool `json:"afterEmail"`
	AfterDays    int  `json:"afterDays"`
	Max          int  `json:"max"`
}

// DefaultReminderRule is the rule until admins save their own: one
// reminder 24 hours before expiry; the after-email reminder is off (3 days
// when turned on); at most 2.
var DefaultReminderRule = ReminderRule{BeforeExpiry: true, BeforeHours: 24, AfterEmail: false, AfterDays: 3, Max: 2}

// Reminder limits (own picks).
const (
	MaxReminderBeforeHours = 24 * 30
	MaxReminderAfterDays   = 90
	MaxRemindersPerLink    = 10
	// ReminderGap is the least time between a customer's emails about a
	// link: a reminder due sooner after the first email or the previous
	// reminder is not sent (the next one that fits is).
	ReminderGap = 12 * time.Hour
)

// Validate returns the rule's problems by field (beforeHours, afterDays,
// max), in staff's words; nil when it is fine.
func (r ReminderRule) Validate() map[string]string {
	errs := map[string]string{}
	if r.BeforeHours < 1 || r.BeforeHours > MaxReminderBeforeHours {
		errs["beforeHours"] = fmt.Sprintf("Enter a whole number of hours from 1 to %d.", MaxReminderBeforeHours)
	}
	if r.AfterDays < 1 || r.AfterDays > MaxReminderAfterDays {
		errs["afterDays"] = fmt.Sprintf("Enter a whole number of days from 1 to %d.", MaxReminderAfterDays)
	}
	if r.Max < 0 || r.Max > MaxRemindersPerLink {
		errs["max"] = fmt.Sprintf("Enter a whole number from 0 to %d.", MaxRemindersPerLink)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Describe says the rule in a clerk's words.
func (r ReminderRule) Describe() string {
	if r.Max == 0 || (!r.BeforeExpiry && !r.AfterEmail) {
		return "no reminders"
	}
	s := ""
	if r.BeforeExpiry {
		s = strconv.Itoa(r.BeforeHours) + " h before expiry"
	}
	if r.AfterEmail {
		if s != "" {
			s += " and "
		}
		s += "every " + strconv.Itoa(r.AfterDays) + " day(s) after the first email"
	}
	return s + ", at most " + strconv.Itoa(r.Max)
}

// Next is when reminder sent+1 is due for a link first emailed at firstAt
// that expires at expiresAt (zero: unknown) and was last reminded at lastAt
// (zero: never), or the zero time when no reminder is left: Max reached,
// never emailed, or nothing due before the expiry. A reminder is never due
// within ReminderGap of the first email or of the previous reminder, nor
// at or after the expiry.
func (r ReminderRule) Next(firstAt, expiresAt, lastAt time.Time, sent int) time.Time {
	if firstAt.IsZero() || sent >= r.Max {
		return time.Time{}
	}
	prev := firstAt
	if lastAt.After(prev) {
		prev = lastAt
	}
	earliest := prev.Add(ReminderGap)
	var next time.Time
	if r.AfterEmail && r.AfterDays > 0 {
		step := time.Duration(r.AfterDays) * 24 * time.Hour
		k := int64(1)
		if d := earliest.Sub(firstAt); d > step {
			k = int64((d + step - 1) / step)
		}
		next = firstAt.Add(time.Duration(k) * step)
	}
	if r.BeforeExpiry && !expiresAt.IsZero() {
		t := expiresAt.Add(-time.Duration(r.BeforeHours) * time.Hour)
		if !t.Before(earliest) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !expiresAt.IsZero() && !next.Before(expiresAt) {
		return time.Time{}
	}
	return next
}

// ReminderRule is the rule the settings give every link.
func (st Settings) ReminderRule() ReminderRule {
	if st.Reminders == nil {
		return DefaultReminderRule
	}
	return *st.Reminders
}

// LinkReminders is a link's reminder schedule as staff see it.
type LinkReminders struct {
	LinkID int64
	// Override is the link's own rule; nil: it follows the settings.
	Override *ReminderRule
	// Rule is the rule in force (the override, else the settings').
	Rule           ReminderRule
	FirstEmailedAt time.Time // zero: never emailed, so nothing is scheduled
	ToAddr, ToName string
	Sent           int
	LastAt         time.Time
	RemindAt       time.Time // zero: none due
}

type reminderRow struct {
	override          *ReminderRule
	first, last, next time.Time
	to, name          string
	sent              int
}

const reminderCols = `before_on, before_hours, after_on, after_days, max_count, first_emailed_at, to_addr, to_name,
	sent, last_at, remind_at`

func scanReminderRow(r scanner) (reminderRow, error) {
	var out reminderRow
	var bOn, bH, aOn, aD, mx, first, last, next sql.NullInt64
	if err := r.Scan(&bOn, &bH, &aOn, &aD, &mx, &first, &out.to, &out.name, &out.sent, &last, &next); err != nil {
		return reminderRow{}, mapErr(err)
	}
	if bOn.Valid {
		out.override = &ReminderRule{BeforeExpiry: bOn.Int64 == 1, BeforeHours: int(bH.Int64), AfterEmail: aOn.Int64 == 1,
			AfterDays: int(aD.Int64), Max: int(mx.Int64)}
	}
	out.first, out.last, out.next = nullMS(first), nullMS(last), nullMS(next)
	return out, nil
}

// settingsIn reads the settings inside a write transaction.
func settingsIn(ctx context.Context, tx *Tx) (Settings, error) {
	var raw string
	err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", settingsKey).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, err
	}
	var st Settings
	return st, json.Unmarshal([]byte(raw), &st)
}

// LinkReminders loads a link's schedule; a link never emailed and never
// given its own rule has the settings' rule and nothing scheduled.
func (s *Store) LinkReminders(ctx context.Context, linkID int64) (LinkReminders, error) {
	st, err := s.GetSettings(ctx)
	if err != nil {
		return LinkReminders{}, err
	}
	out := LinkReminders{LinkID: linkID, Rule: st.ReminderRule()}
	r, err := scanReminderRow(s.read.QueryRowContext(ctx, "SELECT "+reminderCols+" FROM link_reminders WHERE link_id = ?", linkID))
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return LinkReminders{}, err
	}
	if r.override != nil {
		out.Override, out.Rule = r.override, *r.override
	}
	out.FirstEmailedAt, out.ToAddr, out.ToName, out.Sent, out.LastAt, out.RemindAt = r.first, r.to, r.name, r.sent, r.last, r.next
	return out, nil
}

// reschedule works out a link's next reminder again from its row, its
// status and expiry and the rule in force (defaults: the settings' rule).
func reschedule(ctx context.Context, tx *Tx, linkID int64, defaults ReminderRule) error {
	r, err := scanReminderRow(tx.QueryRowContext(ctx, "SELECT "+reminderCols+" FROM link_reminders WHERE link_id = ?", linkID))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var status paylink.Status
	var expires sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT status, expires_at FROM links WHERE id = ?", linkID).Scan(&status, &expires); err != nil {
		return mapErr(err)
	}
	rule := defaults
	if r.override != nil {
		rule = *r.override
	}
	var next any
	if status == paylink.StatusOpen {
		if t := rule.Next(r.first, nullMS(expires), r.last, r.sent); !t.IsZero() {
			next = ms(t)
		}
	}
	_, err = tx.ExecContext(ctx, "UPDATE link_reminders SET remind_at = ?, updated_at = ? WHERE link_id = ?", next, ms(tx.now), linkID)
	return err
}

// noteFirstEmail records a customer email for a link: the first one starts
// the link's reminder schedule (when and to whom it went).
func noteFirstEmail(ctx context.Context, tx *Tx, linkID int64, to, name string) error {
	var first sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT first_emailed_at FROM link_reminders WHERE link_id = ?", linkID).Scan(&first)
	switch {
	case err == nil && first.Valid:
		return nil // emailed before: the schedule runs from the first email
	case err == nil:
		_, err = tx.ExecContext(ctx, "UPDATE link_reminders SET first_emailed_at = ?, to_addr = ?, to_name = ?, updated_at = ? WHERE link_id = ?",
			ms(tx.now), to, name, ms(tx.now), linkID)
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, "INSERT INTO link_reminders (link_id, first_emailed_at, to_addr, to_name, updated_at) VALUES (?, ?, ?, ?, ?)",
			linkID, ms(tx.now), to, name, ms(tx.now))
	}
	if err != nil {
		return err
	}
	st, err := settingsIn(ctx, tx)
	if err != nil {
		return err
	}
	return reschedule(ctx, tx, linkID, st.ReminderRule())
}

// SetLinkReminders gives a link its own rule (nil: back to the settings'
// rule), works its next reminder out again, and records it on the
// timeline and in the audit log.
func (s *Store) SetLinkReminders(ctx context.Context, linkID int64, override *ReminderRule, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM links WHERE id = ?", linkID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		var bOn, bH, aOn, aD, mx any
		desc := "the settings' rule"
		if override != nil {
			bOn, bH, aOn, aD, mx = override.BeforeExpiry, override.BeforeHours, override.AfterEmail, override.AfterDays, override.Max
			desc = override.Describe()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO link_reminders (link_id, before_on, before_hours, after_on, after_days, max_count, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (link_id) DO UPDATE SET before_on = excluded.before_on,
			before_hours = excluded.before_hours, after_on = excluded.after_on, after_days = excluded.after_days,
			max_count = excluded.max_count, updated_at = excluded.updated_at`, linkID, bOn, bH, aOn, aD, mx, ms(tx.now)); err != nil {
			return mapErr(err)
		}
		st, err := settingsIn(ctx, tx)
		if err != nil {
			return err
		}
		if err := reschedule(ctx, tx, linkID, st.ReminderRule()); err != nil {
			return err
		}
		if err := insertLinkEvent(ctx, tx, linkID, "reminders", actor, "Reminders set to "+desc+".", 0); err != nil {
			return err
		}
		a.ActorID, a.Action, a.Target, a.Details = actor, "link.reminders", linkTarget(linkID), "reminders: "+desc
		return insertAudit(ctx, tx, a)
	})
}

// rescheduleDefaults works out again the next reminder of every open
// emailed link that follows the settings' rule, after the rule changed.
func rescheduleDefaults(ctx context.Context, tx *Tx, rule ReminderRule) error {
	ids, err := queryIDs(ctx, tx, `SELECT r.link_id FROM link_reminders r JOIN links l ON l.id = r.link_id
		WHERE r.before_on IS NULL AND r.first_emailed_at IS NOT NULL AND l.status = 'open'`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := reschedule(ctx, tx, id, rule); err != nil {
			return err
		}
	}
	return nil
}

// DueReminder is a link whose next reminder is due.
type DueReminder struct {
	LinkID int64
	Number int // 1 for the first reminder
	DueAt  time.Time
}

// DueReminders lists, oldest first, at most limit links whose next
// reminder is due at now: one query on the reminders_due index. A link
// that stopped being open is listed too; QueueReminder stops its
// schedule.
func (s *Store) DueReminders(ctx context.Context, now time.Time, limit int) ([]DueReminder, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT link_id, sent, remind_at FROM link_reminders
		WHERE remind_at IS NOT NULL AND remind_at <= ? ORDER BY remind_at, link_id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DueReminder
	for rows.Next() {
		var d DueReminder
		var at int64
		if err := rows.Scan(&d.LinkID, &d.Number, &at); err != nil {
			return nil, err
		}
		d.Number++
		d.DueAt = fromMS(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// ReminderOutcome is what QueueReminder did.
type ReminderOutcome int

const (
	ReminderQueued  ReminderOutcome = iota // the reminder's outbox row was committed
	ReminderTaken                          // another run queued it (or it is not due): nothing changed
	ReminderStopped                        // the link is not open: its schedule was stopped, nothing queued
)

// QueueReminder commits reminder number (1-based) of a link in one
// transaction, exactly once: the outbox row (kind reminder, dedupe key
// reminder:<link>:<number>, so no second process or retry can queue it
// again), its timeline and audit entries, and the link's schedule moved on
// to the next reminder. The link must still be open, its reminder still
// due and still number: a link that stopped being open has its schedule
// stopped instead (with a timeline line saying why: stopWhy), and a
// reminder another run queued first is left alone. The mail worker checks
// the link again at send time (outbox.Blocker).
func (s *Store) QueueReminder(ctx context.Context, linkID int64, number int, ne NewEmail, stopWhy func(status paylink.Status) string) (ReminderOutcome, int64, error) {
	out, id := ReminderTaken, int64(0)
	err := s.withTx(ctx, func(tx *Tx) error {
		r, err := scanReminderRow(tx.QueryRowContext(ctx, "SELECT "+reminderCols+" FROM link_reminders WHERE link_id = ?", linkID))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.sent != number-1 || r.next.IsZero() || r.next.After(tx.now) {
			return nil
		}
		var status paylink.Status
		var held string
		if err := tx.QueryRowContext(ctx, "SELECT status, COALESCE(held_checkout_host, '') FROM links WHERE id = ?", linkID).
			Scan(&status, &held); err != nil {
			return mapErr(err)
		}
		if status != paylink.StatusOpen || held != "" {
			out = ReminderStopped
			if _, err := tx.ExecContext(ctx, "UPDATE link_reminders SET remind_at = NULL, updated_at = ? WHERE link_id = ?", ms(tx.now), linkID); err != nil {
				return err
			}
			why := "the link is " + string(status)
			if stopWhy != nil {
				why = stopWhy(status)
			}
			return insertLinkEvent(ctx, tx, linkID, "reminders", 0, "Reminder "+strconv.Itoa(number)+" not queued: "+why+".", 0)
		}
		st, err := settingsIn(ctx, tx)
		if err != nil {
			return err
		}
		rule := st.ReminderRule()
		if r.override != nil {
			rule = *r.override
		}
		ne.LinkID, ne.Kind = linkID, KindReminder
		ne.DedupeKey = "reminder:" + itoa(linkID) + ":" + strconv.Itoa(number)
		id, err = insertEmail(ctx, tx, ne, 0, 0, fmt.Sprintf("reminder %d of at most %d", number, rule.Max))
		if errors.Is(err, errDeduped) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE link_reminders SET sent = ?, last_at = ?, updated_at = ? WHERE link_id = ? AND sent = ?",
			number, ms(tx.now), ms(tx.now), linkID, number-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("link %d: reminder count moved during the transaction", linkID)
		}
		if err := reschedule(ctx, tx, linkID, st.ReminderRule()); err != nil {
			return err
		}
		out = ReminderQueued
		return insertAudit(ctx, tx, AuditEntry{Action: "email.reminder", Target: linkTarget(linkID),
			Details: fmt.Sprintf("outbox:%d reminder %d to %s", id, number, ne.ToAddr)})
	})
	if err != nil {
		return ReminderTaken, 0, err
	}
	return out, id, nil
}

// ReminderTemplateName is the admin-edited reminder email's template; no
// saved row means the built-in one (outbox.DefaultReminderTemplate).
const ReminderTemplateName = "reminder"

// StopReminders ends a link's schedule (no reminder due any more) and says
// why on its timeline; nothing happens when none was due.
func (s *Store) StopReminders(ctx context.Context, linkID int64, why string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE link_reminders SET remind_at = NULL, updated_at = ? WHERE link_id = ? AND remind_at IS NOT NULL",
			ms(tx.now), linkID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return insertLinkEvent(ctx, tx, linkID, "reminders", 0, "Reminders stopped: "+why+".", 0)
	})
}
