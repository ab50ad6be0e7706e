package db

import (
	"context"
	"fmt"

	"github.com/paylinks/paylinks/paylink"
)

// NotCancellableError refuses to cancel a link that has ended or is still
// being created; Status says which. Nothing was changed.
type NotCancellableError struct {
	Status paylink.Status
}

func (e *NotCancellableError) Error() string {
	return fmt.Sprintf("a %s link cannot be cancelled", e.Status)
}

// CancelResult is what CancelLink did.
type CancelResult struct {
	// Cancelled is false when the link was already cancelled: nothing
	// changed (cancelling twice is harmless).
	Cancelled bool
	// EmailsStopped counts the link's queued emails that will not be sent.
	EmailsStopped int
}

// CancelLink cancels one link for actor in one transaction: the status
// becomes cancelled (guarded by the status it was read in, so a payment
// committed first wins and the cancel is refused), with when, by whom and
// why; every queued email of the link not being sent at this moment is
// set cancelled with the reason; the timeline and the audit log say so.
// An email a worker holds (it is talking to the mail server) is stopped by
// the worker's own check of the link, which reads cancelled from now on,
// unless the message was already handed over.
// A cancelled link is left as it is; a link that is not cancellable
// (paylink.Status.Cancellable) gets *NotCancellableError.
func (s *Store) CancelLink(ctx context.Context, id, actor int64, reason string, a AuditEntry) (CancelResult, error) {
	var out CancelResult
	err := s.withTx(ctx, func(tx *Tx) error {
		var st paylink.Status
		if err := tx.QueryRowContext(ctx, "SELECT status FROM links WHERE id = ?", id).Scan(&st); err != nil {
			return mapErr(err)
		}
		if st == paylink.StatusCancelled {
			return nil
		}
		if !st.Cancellable() {
			return &NotCancellableError{Status: st}
		}
		now := ms(tx.now)
		if _, err := tx.ExecContext(ctx, `UPDATE links SET status = 'cancelled', cancelled_at = ?, cancelled_by = ?,
			cancel_reason = ?, updated_at = ? WHERE id = ? AND status = ?`, now, actor, oneLine(reason), now, id, st); err != nil {
			return mapErr(err)
		}
		out.Cancelled = true
		msg := "Cancelled (was " + string(st) + "). Reason: " + reason + "."
		if st == paylink.StatusProcessing {
			msg += " The customer had started paying; a payment already under way may still complete."
		}
		if err := insertLinkEvent(ctx, tx, id, "cancelled", actor, oneLine(msg), 0); err != nil {
			return err
		}
		stopped, err := queryIDs(ctx, tx, `UPDATE outbox SET status = 'cancelled', last_error = ?, finished_at = ?,
			updated_at = ? WHERE link_id = ? AND status = 'queued' AND (locked_until IS NULL OR locked_until <= ?)
			RETURNING id`, "the link was cancelled.", now, now, id, now)
		if err != nil {
			return err
		}
		for _, eid := range stopped {
			if err := insertLinkEvent(ctx, tx, id, "email", 0, "Email #"+itoa(eid)+" not sent: the link was cancelled.", eid); err != nil {
				return err
			}
		}
		out.EmailsStopped = len(stopped)
		a.Action, a.Target, a.ActorID = "link.cancel", linkTarget(id), actor
		a.Details = clean("from " + string(st) + "; reason: " + reason)
		return insertAudit(ctx, tx, a)
	})
	return out, err
}
