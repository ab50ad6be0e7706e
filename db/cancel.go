package db

import (
	"context"
	"errors"
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
		var err error
		out, err = cancelLink(ctx, tx, id, actor, reason, false, a)
		return err
	})
	return out, err
}

// LinkCancel is what CancelLinks did to one link: Err is the refusal
// (*NotCancellableError, ErrNotFound), nothing changed for that link.
type LinkCancel struct {
	ID int64
	CancelResult
	Err error
}

// CancelLinks cancels links for actor with one reason in one transaction,
// each exactly as CancelLink does (its status guard, its emails stopped,
// its timeline line and its own audit entry); a link refused is reported
// in its LinkCancel and the others are cancelled all the same. With
// creating, a link still being created is cancelled too (bulk import's
// Cancel the rest): every write that finishes a mint (BeginLinkAttempt,
// CompleteLinkCreation, HoldLinkCheckout, FailLinkCreation) is guarded by
// the status creating (or error), so after this commit no call for it
// starts, and the answer of a call already in flight is not stored: its
// checkout URL is never kept, shown or emailed.
func (s *Store) CancelLinks(ctx context.Context, ids []int64, actor int64, reason string, creating bool, a AuditEntry) ([]LinkCancel, error) {
	var out []LinkCancel
	err := s.withTx(ctx, func(tx *Tx) error {
		out = out[:0]
		for _, id := range ids {
			res, err := cancelLink(ctx, tx, id, actor, reason, creating, a)
			var nc *NotCancellableError
			if errors.As(err, &nc) || errors.Is(err, ErrNotFound) {
				out = append(out, LinkCancel{ID: id, Err: err})
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, LinkCancel{ID: id, CancelResult: res})
		}
		return nil
	})
	return out, err
}

// cancelLink is one link's cancel inside tx (CancelLink, CancelLinks);
// creating allows a link still being created.
func cancelLink(ctx context.Context, tx *Tx, id, actor int64, reason string, creating bool, a AuditEntry) (CancelResult, error) {
	var out CancelResult
	var st paylink.Status
	var attempts int
	if err := tx.QueryRowContext(ctx, "SELECT status, attempts FROM links WHERE id = ?", id).Scan(&st, &attempts); err != nil {
		return out, mapErr(err)
	}
	if st == paylink.StatusCancelled {
		return out, nil
	}
	if !st.Cancellable() && !(creating && st == paylink.StatusCreating) {
		return out, &NotCancellableError{Status: st}
	}
	now := ms(tx.now)
	if _, err := tx.ExecContext(ctx, `UPDATE links SET status = 'cancelled', cancelled_at = ?, cancelled_by = ?,
		cancel_reason = ?, updated_at = ? WHERE id = ? AND status = ?`, now, actor, oneLine(reason), now, id, st); err != nil {
		return out, mapErr(err)
	}
	out.Cancelled = true
	msg := "Cancelled (was " + string(st) + "). Reason: " + reason + "."
	switch {
	case st == paylink.StatusProcessing:
		msg += " The customer had started paying; a payment already under way may still complete."
	case st == paylink.StatusCreating && attempts == 0:
		msg += " It had not been sent to StableMint: it never will be."
	case st == paylink.StatusCreating:
		msg += " A call to StableMint may still be under way: whatever it answers is not kept, and no checkout link is shown or emailed."
	}
	if err := insertLinkEvent(ctx, tx, id, "cancelled", actor, oneLine(msg), 0); err != nil {
		return out, err
	}
	stopped, err := queryIDs(ctx, tx, `UPDATE outbox SET status = 'cancelled', last_error = ?, finished_at = ?,
		updated_at = ? WHERE link_id = ? AND status = 'queued' AND (locked_until IS NULL OR locked_until <= ?)
		RETURNING id`, "the link was cancelled.", now, now, id, now)
	if err != nil {
		return out, err
	}
	for _, eid := range stopped {
		if err := insertLinkEvent(ctx, tx, id, "email", 0, "Email #"+itoa(eid)+" not sent: the link was cancelled.", eid); err != nil {
			return out, err
		}
	}
	out.EmailsStopped = len(stopped)
	a.Action, a.Target, a.ActorID = "link.cancel", linkTarget(id), actor
	a.Details = clean("from " + string(st) + "; reason: " + reason)
	return out, insertAudit(ctx, tx, a)
}
