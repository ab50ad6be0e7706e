package handlers

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// action is one thing the link page offers.
type action string

// The link page's actions.
const (
	actCheckout    action = "checkout"     // the checkout URL, Copy, Open, the QR code and the expiry
	actEmail       action = "email"        // Email to customer
	actRetry       action = "retry"        // ask StableMint again with the same key
	actApproveHost action = "approve-host" // approve a held checkout host
	actCancel      action = "cancel"
	actReissue     action = "reissue"
)

// actionsFor is the one matrix of what the link page offers, by status,
// whether StableMint's checkout URL is held for review, and role: viewers
// see, never act; finance acts on links; admins also approve checkout
// hosts. A link that can no longer be paid never offers its checkout URL,
// QR code or email.
func actionsFor(st paylink.Status, held bool, role paylink.Role) map[action]bool {
	acts := map[action]bool{}
	write, admin := role.AtLeast(paylink.RoleFinance), role.AtLeast(paylink.RoleAdmin)
	switch st {
	case paylink.StatusError:
		acts[actRetry] = write && !held
		acts[actApproveHost] = admin && held
		acts[actCancel] = write
		// StableMint refused the details (a retry cannot help): a new link
		// with them corrected. A held link has a session: approve it instead.
		acts[actReissue] = write && !held
	case paylink.StatusOpen:
		acts[actCheckout] = true
		acts[actEmail] = write
		acts[actCancel] = write
	case paylink.StatusProcessing:
		acts[actCancel] = write
	case paylink.StatusFailed, paylink.StatusExpired, paylink.StatusCancelled:
		acts[actReissue] = write && !held // as links.Reissuable: a held session is approved, not replaced
	}
	for k, v := range acts {
		if !v {
			delete(acts, k)
		}
	}
	return acts
}

// linkActions builds the link page's action area for l, as the page and
// its live fragment show it. form carries a refused cancel's values and
// messages; nil for a fresh page.
func (a *app) linkActions(c echo.Context, l db.Link, form *views.CancelForm) (views.LinkActions, error) {
	u := currentUser(c)
	now := a.now()
	acts := actionsFor(l.Status, l.HeldCheckoutHost != "", u.Role)
	p := views.LinkActions{
		CSRF: csrfToken(c), ID: l.ID, Status: string(l.Status), LastError: l.LastError, HeldHost: l.HeldCheckoutHost,
		DepositReference: l.DepositReference, Amount: formatMoney(l.AmountMinor, l.Currency),
		Key: string(l.Status) + "." + l.HeldCheckoutHost,
	}
	if l.Status == paylink.StatusCreating {
		p.Since = relative(l.CreatedAt, now)
		if u, ok := a.minter.Unsaved(l.ID); ok {
			p.Unsaved = u.Message()
			p.Key += ".unsaved"
		}
	}
	if acts[actCheckout] && l.CheckoutURL != "" {
		p.CheckoutURL, p.QRURL = l.CheckoutURL, a.url(RouteLinkQR, l.ID)+"?v="+qrVersion(l.CheckoutURL)
	}
	if !l.ExpiresAt.IsZero() {
		p.Expires = when(viewerZone(c), l.ExpiresAt)
		if l.ExpiresAt.After(now) {
			p.ExpiresRelative = relative(l.ExpiresAt, now)
		} else {
			p.ExpiresRelative = "expired " + relative(l.ExpiresAt, now)
		}
	} else if p.CheckoutURL != "" {
		p.Expires = "unknown"
		p.ExpiresRelative = "StableMint did not say; paylinks will not expire this link"
	}
	switch l.Status {
	case paylink.StatusProcessing:
		p.Since = when(viewerZone(c), l.UpdatedAt) + " (" + relative(l.UpdatedAt, now) + ")"
	case paylink.StatusPaid, paylink.StatusSettled:
		if !l.PaidAt.IsZero() {
			p.PaidAt = when(viewerZone(c), l.PaidAt)
		}
		if !l.SettledAt.IsZero() {
			p.SettledAt = when(viewerZone(c), l.SettledAt)
		}
	case paylink.StatusFailed:
		p.Ended = "The customer's payment failed at StableMint (" + when(viewerZone(c), l.UpdatedAt) + "). This link cannot be paid any more."
	case paylink.StatusExpired:
		p.Ended = "The checkout expired unpaid"
		if !l.ExpiresAt.IsZero() {
			p.Ended += " on " + when(viewerZone(c), l.ExpiresAt)
		}
		p.Ended += ". This link cannot be paid any more."
	case paylink.StatusCancelled:
		p.Ended = "Cancelled " + when(viewerZone(c), l.CancelledAt)
		if l.CancelledByName != "" {
			p.Ended += " by " + l.CancelledByName
		}
		p.Ended += ". Reason: " + l.CancelReason + "."
		if l.ExpiresAt.After(now) {
			p.StillPayable = "StableMint cannot close a checkout page, so it may still accept a payment until " + when(viewerZone(c), l.ExpiresAt) +
				". If the customer pays anyway, paylinks records the payment and flags it."
		}
	}
	if acts[actRetry] {
		p.RetryURL = a.url(RouteLinkRetry, l.ID)
	}
	if acts[actApproveHost] {
		p.HeldURL, p.ApproveURL = l.HeldCheckoutURL, a.url(RouteLinkApproveHost, l.ID)
	}
	if acts[actReissue] {
		p.ReissueURL = a.url(RouteLinkNew) + "?from=" + strconv.FormatInt(l.ID, 10)
	}
	if acts[actCancel] {
		p.Cancel = form
		if p.Cancel == nil {
			p.Cancel = &views.CancelForm{Values: map[string]string{}, Errors: views.FieldErrors{}}
		}
		p.Cancel.Action = a.url(RouteLinkCancel, l.ID)
		for _, r := range links.CancelReasons {
			p.Cancel.Reasons = append(p.Cancel.Reasons, views.Option{Value: r.Value, Label: r.Label})
		}
		switch {
		case l.Status == paylink.StatusProcessing:
			p.Cancel.Warning = "The customer has started paying. A payment already under way may still complete; if it does, paylinks records it and flags the link as paid after cancel."
		case l.ExpiresAt.After(now):
			p.Cancel.Warning = "StableMint cannot close a checkout page: it may still accept a payment until " + when(viewerZone(c), l.ExpiresAt) +
				". If the customer pays anyway, paylinks records the payment and flags it. Queued emails for this link are not sent."
		default:
			p.Cancel.Warning = "Queued emails for this link are not sent."
		}
	}
	var err error
	if p.Email, err = a.emailPanel(c, l); err != nil {
		return p, err
	}
	if l.Status == paylink.StatusOpen {
		r, err := a.reminderPanel(c, l)
		if err != nil {
			return p, err
		}
		p.Reminders = &r
	}
	if p.Email != nil && !acts[actEmail] {
		// Not an action here: the section stays only as the history of
		// what was sent.
		p.Email.ComposeURL, p.Email.Unavailable = "", ""
		if len(p.Email.Emails) == 0 {
			p.Email = nil
		}
	}
	return p, nil
}

// cancelLink cancels a link from its page (links.Cancel: the same service
// the bulk action calls). A missing reason re-shows the page with the
// message by the field and what was typed; a link that has ended is
// refused with a message; a link already cancelled is shown as it is.
func (a *app) cancelLink(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cn := links.Cancellation{Reason: c.FormValue("reason"), Text: c.FormValue("reasonText")}
	res, errs, err := links.Cancel(ctx, a.store, l.ID, currentUser(c).ID, cn, a.auditEntry(c, "link.cancel"))
	form := &views.CancelForm{Open: true, Values: map[string]string{"reason": cn.Reason, "reasonText": cn.Text}, Errors: views.FieldErrors{}}
	switch {
	case errs != nil:
		for k, v := range errs {
			form.Errors[k] = v
		}
		return a.renderLink(c, l, http.StatusUnprocessableEntity, form, "")
	case errors.Is(err, links.ErrNotCancellable):
		refused := err.Error()
		if l, err = a.store.LinkByID(ctx, l.ID); err != nil { // it may have been paid meanwhile: show it as it is
			return err
		}
		return a.renderLink(c, l, http.StatusConflict, nil, refused)
	case err != nil:
		return err
	}
	msg := "The link was already cancelled."
	if res.Cancelled {
		msg = "Link cancelled."
		switch res.EmailsStopped {
		case 0:
		case 1:
			msg += " 1 queued email will not be sent."
		default:
			msg += " " + strconv.Itoa(res.EmailsStopped) + " queued emails will not be sent."
		}
	}
	if err := a.flash(c, "ok", msg); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteLink, l.ID))
}

// cancelLinks cancels the links ticked on the list, each through
// links.Cancel (the same service as the link page), with one reason for
// all. Links that cannot be cancelled (paid, ended, still being created)
// are left as they are and named in the message; it comes back to the
// list it was sent from.
func (a *app) cancelLinks(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	back := form.Get("back")
	if !strings.HasPrefix(back, a.url(RouteLinks)) || strings.HasPrefix(back, "//") {
		back = a.url(RouteLinks)
	}
	ids, err := linkIDs(form)
	if err != nil {
		return err
	}
	cn := links.Cancellation{Reason: form.Get("reason"), Text: form.Get("reasonText")}
	_, problems := cn.Validate()
	switch {
	case len(ids) == 0:
		problems = links.FieldErrors{"ids": "Tick the links to cancel first."}
	case len(ids) > maxBatchLinks:
		problems = links.FieldErrors{"ids": fmt.Sprintf("Cancel at most %d links at once (%d ticked).", maxBatchLinks, len(ids))}
	}
	if problems != nil {
		msgs := slices.Sorted(maps.Values(problems))
		if err := a.flash(c, "error", "Nothing was cancelled. "+strings.Join(msgs, " ")); err != nil {
			return err
		}
		return a.redirect(c, back)
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	var done, already int
	var refused []string
	for _, id := range ids {
		res, _, err := links.Cancel(ctx, a.store, id, u.ID, cn, a.auditEntry(c, "link.cancel"))
		var no *links.Refusal
		switch {
		case errors.Is(err, db.ErrNotFound):
			refused = append(refused, "#"+strconv.FormatInt(id, 10)+" (no such link)")
		case errors.As(err, &no):
			refused = append(refused, "#"+strconv.FormatInt(id, 10)+" ("+string(no.Status)+")")
		case err != nil:
			return err
		case res.Cancelled:
			done++
		default:
			already++
		}
	}
	kind, msg := "ok", fmt.Sprintf("Cancelled %d %s.", done, pluralWord(done, "link", "links"))
	if already > 0 {
		msg += fmt.Sprintf(" %d %s already cancelled.", already, pluralWord(already, "was", "were"))
	}
	if len(refused) > 0 {
		kind = "error"
		msg += " Not cancelled, because they are paid, have ended or are still being created: " + strings.Join(refused, ", ") + "."
	}
	if err := a.flash(c, kind, msg); err != nil {
		return err
	}
	return a.redirect(c, back)
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// linkIDs reads the ticked links of a list form (ids), each once, in order;
// anything but a link id is a bad request.
func linkIDs(form url.Values) ([]int64, error) {
	var ids []int64
	seen := map[int64]bool{}
	for _, raw := range form["ids"] {
		id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || id <= 0 {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "ids must be link ids")
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}
