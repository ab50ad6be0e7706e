package db

import (
	"context"
	"fmt"

	"github.com/paylinks/paylinks/paylink"
)

// WebhookAction is the result of an admin's action on an event.
type WebhookAction struct {
	Outcome paylink.Outcome
	Detail  string
	LinkID  int64
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
