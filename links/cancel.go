package links

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// CancelReason is one of the reasons staff pick when they cancel a link.
type CancelReason struct{ Value, Label string }

// CancelReasons are the choices the cancel form (and the API) offer, in
// order; "other" asks for the reason in the person's own words.
var CancelReasons = []CancelReason{
	{"wrong_details", "Wrong amount or details"},
	{"paid_another_way", "Paid another way"},
	{"not_owed", "No longer owed"},
	{"other", "Other"},
}

// MaxCancelText is the longest reason written in one's own words.
const MaxCancelText = 300

// Cancellation is a request to cancel a link: one of CancelReasons' values,
// and the text when it is "other" (optional detail otherwise).
type Cancellation struct {
	Reason string
	Text   string
}

// Validate returns the reason as the timeline and audit log keep it, or
// the problems by field ("reason", "reasonText").
func (c Cancellation) Validate() (string, FieldErrors) {
	text := strings.Join(strings.Fields(c.Text), " ")
	switch {
	case utf8.RuneCountInString(text) > MaxCancelText:
		return "", FieldErrors{"reasonText": "Keep the reason under 300 characters."}
	case c.Reason == "other" && text == "":
		return "", FieldErrors{"reasonText": "Say why the link is cancelled."}
	}
	for _, r := range CancelReasons {
		if r.Value != c.Reason {
			continue
		}
		switch {
		case c.Reason == "other":
			return text, nil
		case text != "":
			return r.Label + " — " + text, nil
		}
		return r.Label, nil
	}
	return "", FieldErrors{"reason": "Choose why the link is cancelled."}
}

// CancelStore is the storage cancelling needs.
type CancelStore interface {
	CancelLink(ctx context.Context, id, actor int64, reason string, a db.AuditEntry) (db.CancelResult, error)
}

// ErrNotCancellable is wrapped by Cancel's refusal of a link that has ended
// or is still being created; its text is for staff.
var ErrNotCancellable = errors.New("the link cannot be cancelled")

// Refusal is Cancel's refusal of one link: its status and why, in staff's
// words. It wraps ErrNotCancellable.
type Refusal struct {
	Status paylink.Status
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }
func (r *Refusal) Unwrap() error { return ErrNotCancellable }

// Cancel cancels one link: the pages, the bulk action and the API all come
// here. It validates the reason (FieldErrors, nothing changed), then the
// store cancels the link and stops its queued emails in one transaction.
// A cancelled link again is no error (Cancelled false); a paid, settled,
// failed, expired or creating link is refused with a *Refusal (wrapping
// ErrNotCancellable) whose text says why in staff's words. StableMint has
// no call to close a checkout session, so none is made: a payment that
// still arrives is applied and flagged (paylink.Decide).
func Cancel(ctx context.Context, store CancelStore, id, actor int64, c Cancellation, a db.AuditEntry) (db.CancelResult, FieldErrors, error) {
	reason, errs := c.Validate()
	if errs != nil {
		return db.CancelResult{}, errs, nil
	}
	res, err := store.CancelLink(ctx, id, actor, reason, a)
	var nc *db.NotCancellableError
	if errors.As(err, &nc) {
		return res, nil, &Refusal{Status: nc.Status, Reason: CancelRefusal(nc.Status)}
	}
	return res, nil, err
}

// CancelRefusal says why a link in status s cannot be cancelled.
func CancelRefusal(s paylink.Status) string {
	switch s {
	case paylink.StatusPaid, paylink.StatusSettled:
		return "This link is paid, so it cannot be cancelled. If the customer should get the money back, refund them outside paylinks."
	case paylink.StatusFailed:
		return "This link's payment failed, so it has already ended: there is nothing to cancel."
	case paylink.StatusExpired:
		return "This link has expired, so it has already ended: there is nothing to cancel."
	case paylink.StatusCreating:
		return "This link is still being created at StableMint. Try again in a few seconds."
	}
	return "A " + string(s) + " link cannot be cancelled."
}

// CancelLinksStore is the storage CancelMany needs.
type CancelLinksStore interface {
	CancelLinks(ctx context.Context, ids []int64, actor int64, reason string, creating bool, a db.AuditEntry) ([]db.LinkCancel, error)
}

// CancelMany is Cancel for several links with one reason, committed
// together: each link is cancelled as Cancel cancels it (same guard,
// emails stopped, timeline line and audit entry), and a link refused
// gets its *Refusal in its LinkCancel without stopping the others. With
// creating, a link still being created is cancelled too (an import's
// Cancel the rest): no call to StableMint starts for it afterwards, and
// the answer of a call already under way is not stored (the minter's
// writes are guarded by the status creating), so its checkout link is
// never shown or emailed. Cancel keeps refusing a creating link: the
// page and the API cancel a link one person made, whose mint answers in
// seconds.
func CancelMany(ctx context.Context, store CancelLinksStore, ids []int64, actor int64, c Cancellation, creating bool, a db.AuditEntry) ([]db.LinkCancel, FieldErrors, error) {
	reason, errs := c.Validate()
	if errs != nil {
		return nil, errs, nil
	}
	out, err := store.CancelLinks(ctx, ids, actor, reason, creating, a)
	for i := range out {
		var nc *db.NotCancellableError
		if errors.As(out[i].Err, &nc) {
			out[i].Err = &Refusal{Status: nc.Status, Reason: CancelRefusal(nc.Status)}
		}
	}
	return out, nil, err
}
