package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// Email limits (own picks).
const (
	maxEmailNote      = 2000 // the personal note, in characters
	maxBatchLinks     = 100  // links per batch
	batchRefreshAfter = 3    // seconds between batch page refreshes
)

// sendLimiter is the per-user email budget, outbox.SendBudget: the same
// budget the import emails take from (app.New shares one).
type sendLimiter struct{ *outbox.SendBudget }

// newSendLimiter wraps the shared budget, or makes one of perMinute.
func newSendLimiter(b *outbox.SendBudget, perMinute int) *sendLimiter {
	if b == nil {
		b = outbox.NewSendBudget(perMinute)
	}
	return &sendLimiter{b}
}

// allow takes n emails from user's budget at now, or nothing.
func (l *sendLimiter) allow(user int64, n int, now time.Time) bool { return l.Allow(user, n, now) }

// allowSend checks the signed-in user's email budget for n emails; a
// refusal is logged and audited.
func (a *app) allowSend(c echo.Context, n int, target string) bool {
	u := currentUser(c)
	if a.sendLimits.allow(u.ID, n, a.now()) {
		return true
	}
	ctx := c.Request().Context()
	logFrom(ctx, a.log).Warn("email rate limit", "user_id", u.ID, "emails", n, "per_minute", a.opts.MailRatePerMinute)
	e := a.auditEntry(c, "email.rate_limited")
	e.Outcome, e.Target = "denied", target
	e.Details = fmt.Sprintf("%d email(s) refused; limit %d a minute", n, a.opts.MailRatePerMinute)
	if err := a.store.Audit(ctx, e); err != nil {
		logFrom(ctx, a.log).Error("audit rate limit", "err", err)
	}
	return false
}

func (a *app) rateLimitMessage(n int) string {
	return fmt.Sprintf("Not sent: that would be more than %d emails a minute from you (this is %d). Wait a minute and try again.",
		a.opts.MailRatePerMinute, n)
}

// emailTemplate is the saved template, or the built-in one, compiled, with
// a version that changes whenever it is saved.
func (a *app) emailTemplate(ctx context.Context) (*mail.Compiled, db.EmailTemplate, error) {
	t, err := a.store.EmailTemplate(ctx, db.EmailTemplateName)
	if errors.Is(err, db.ErrNotFound) {
		t = db.EmailTemplate{Name: db.EmailTemplateName, Subject: mail.DefaultTemplate.Subject,
			Text: mail.DefaultTemplate.Text, HTML: mail.DefaultTemplate.HTML}
	} else if err != nil {
		return nil, t, err
	}
	c, err := mail.Template{Subject: t.Subject, Text: t.Text, HTML: t.HTML}.Compile()
	if err != nil {
		return nil, t, fmt.Errorf("stored email template: %w", err)
	}
	return c, t, nil
}

func templateVersion(t db.EmailTemplate) string {
	if t.UpdatedAt.IsZero() {
		return "default"
	}
	return strconv.FormatInt(t.UpdatedAt.UnixMilli(), 10)
}

// customerWhen is how a time reads in an email to a customer: in UTC,
// always, whoever sends it (staff see theirs in their own zone, views.When).
func customerWhen(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// emailData fills the placeholders for a link.
func (a *app) emailData(l db.Link, to, name, note string) mail.Data {
	return brandMailData(mail.Data{
		CustomerName: name, CustomerID: l.CustomerID, CustomerEmail: to,
		Amount: formatMoney(l.AmountMinor, l.Currency), Currency: l.Currency, Link: l.CheckoutURL,
		ExpiresAt: customerWhen(l.ExpiresAt), WebsiteReference: l.WebsiteReference, Message: note,
	}, a.brandNow())
}

// newEmail is the outbox row for a rendered message.
func (a *app) newEmail(l db.Link, to, name string, r mail.Rendered, actor int64) db.NewEmail {
	return db.NewEmail{
		LinkID: l.ID, FromAddr: a.opts.MailFrom.Email, FromName: a.senderName(a.brandNow()),
		ToAddr: to, ToName: name, Subject: r.Subject, Text: r.Text, HTML: r.HTML,
		MessageIDDomain: a.opts.MailFrom.Domain(), CreatedBy: actor,
	}
}

func (a *app) preview(to, name string, r mail.Rendered) *views.EmailPreview {
	return &views.EmailPreview{
		From: a.sender(a.brandNow()).Display(), To: mail.Address{Name: name, Email: to}.Display(),
		Subject: r.Subject, Text: r.Text, HTML: r.HTML,
	}
}

// recentEmailWindow is how long after an email about a link emailing the
// same customer about it again asks for confirmation.
const recentEmailWindow = 24 * time.Hour

// Compose form messages.
const (
	msgChangedAfterPreview = "You changed the message after the preview. Check the new preview, then send."
	msgPreviewFirst        = "Check the preview below, then send."
	msgTemplateChanged     = "The email template changed since this preview. Check the new preview below, then send again."
	msgTemplateTrouble     = "The email template cannot be filled in for this link. Ask an administrator to check the email template."
)

// composeInput is the compose form as submitted.
type composeInput struct {
	To, Name, Subject, Note string
	FormToken               string
	TemplateVersion         string
	Digest                  string // of the message last previewed (previewDigest)
	Send                    bool   // action=send, or send-again (confirmed)
	SendAgain               bool   // the "send again" confirmation was given…
	ConfirmAfter            int64  // …knowing of the emails up to this outbox id
}

func parseComposeInput(form url.Values) composeInput {
	// Leading and trailing spaces go, line breaks stay: they must be seen
	// and refused, never silently dropped.
	trim := func(k string) string { return strings.Trim(form.Get(k), " \t") }
	action := form.Get("action")
	after, _ := strconv.ParseInt(form.Get("confirm_after"), 10, 64)
	return composeInput{
		To: trim("to"), Name: trim("name"), Subject: trim("subject"), Note: strings.TrimSpace(form.Get("message")),
		FormToken: truncate(form.Get("form_token"), maxFormTokenSize), TemplateVersion: form.Get("template_version"),
		Digest: truncate(form.Get("preview_digest"), 128), Send: action == "send" || action == "send-again",
		SendAgain: action == "send-again", ConfirmAfter: after,
	}
}

func (in composeInput) values() map[string]string {
	return map[string]string{"to": in.To, "name": in.Name, "subject": in.Subject, "message": in.Note}
}

// headerMessage explains why a header value was refused.
func headerMessage(err error, what string, max int) string {
	switch {
	case errors.Is(err, mail.ErrLineBreak):
		return "Line breaks are not allowed in " + what + ": it goes into one line of the email's header."
	case errors.Is(err, mail.ErrTooLong):
		return fmt.Sprintf("Keep %s under %d characters.", what, max)
	case errors.Is(err, mail.ErrInvalidUTF8), errors.Is(err, mail.ErrControlChar):
		return "Remove the control characters from " + what + "."
	}
	return "Check " + what + "."
}

// validate checks the header fields; the body comes from the template.
func (in composeInput) validate() views.FieldErrors {
	errs := views.FieldErrors{}
	if in.To == "" {
		errs["to"] = "Enter the recipient's email address."
	} else if _, err := mail.ParseAddress(in.To); err != nil {
		if errors.Is(err, mail.ErrLineBreak) {
			errs["to"] = "Line breaks are not allowed in an email address."
		} else {
			errs["to"] = "Enter one email address, like ada@example.com (no name, no second address)."
		}
	}
	if err := mail.CheckHeader(in.Name, mail.MaxNameLength); err != nil {
		errs["name"] = headerMessage(err, "the name", mail.MaxNameLength)
	}
	if in.Subject == "" {
		errs["subject"] = "Enter a subject."
	} else if err := mail.CheckHeader(in.Subject, mail.MaxSubjectLength); err != nil {
		errs["subject"] = headerMessage(err, "the subject", mail.MaxSubjectLength)
	}
	if utf8.RuneCountInString(in.Note) > maxEmailNote {
		errs["message"] = fmt.Sprintf("Keep the note under %d characters.", maxEmailNote)
	}
	return errs
}

// composeMessage fills the template in for a composed email: the one
// rendering of it. The compose page's preview, the preview frame
// (emailPreviewHTML) and Send all call it, and what Send queues is what the
// worker sends; the subject is what staff typed.
func (a *app) composeMessage(tpl *mail.Compiled, l db.Link, in composeInput) (mail.Rendered, error) {
	text, html, err := tpl.RenderBody(a.emailData(l, in.To, in.Name, in.Note))
	if err != nil {
		return mail.Rendered{}, err
	}
	return mail.Rendered{Subject: in.Subject, Text: text, HTML: html}, nil
}

// previewDigest identifies a previewed message: the link, the template
// version, every field of the form and the message they render to. The
// form carries it from the preview to Send, which recomputes it from what
// is submitted and sends only when the two agree.
func (a *app) previewDigest(l db.Link, in composeInput, r mail.Rendered, version string) string {
	h := sha256.New()
	for _, v := range []string{strconv.FormatInt(l.ID, 10), version, a.opts.MailFrom.String(), in.To, in.Name, in.Subject, in.Note,
		r.Subject, r.Text, r.HTML} {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// previewFrameURL is the address of the HTML part of the composed message,
// which the compose page shows in a sandboxed frame.
func (a *app) previewFrameURL(l db.Link, in composeInput, version string) string {
	q := url.Values{"to": {in.To}, "name": {in.Name}, "subject": {in.Subject}, "message": {in.Note}, "template_version": {version}}
	return a.url(RouteLinkEmailPreviewHTML, l.ID) + "?" + q.Encode()
}

// templateTrouble logs why the template could not be filled in and says
// it in a finance clerk's words (the details are for admins, in the log).
func (a *app) templateTrouble(c echo.Context, l db.Link, err error) string {
	logFrom(c.Request().Context(), a.log).Warn("email template cannot be filled in", "link_id", l.ID, "err", err)
	return msgTemplateTrouble
}

// recentMessage says when and by whom the customer was last emailed about
// a link, in words.
func (a *app) recentMessage(r db.RecentEmail) string {
	who := r.ToName
	if who == "" {
		who = r.ToAddr
	}
	by := r.ByName
	switch {
	case by == "" && r.ByEmail == "":
		by = "a user who no longer exists"
	case by == "":
		by = r.ByEmail
	case r.ByEmail != "":
		by += " (" + r.ByEmail + ")"
	}
	ago := relative(r.CreatedAt, a.now())
	switch r.Status {
	case db.EmailKept:
		return fmt.Sprintf("An email to %s about this link was written %s by %s (kept in the local mailbox, not sent).", who, ago, by)
	case db.EmailQueued:
		return fmt.Sprintf("An email to %s about this link was queued %s by %s and has not gone yet.", who, ago, by)
	}
	return fmt.Sprintf("%s was emailed about this link %s by %s.", who, ago, by)
}

// recentEmail is the email about l to addr in the last 24 hours that staff
// must know of before emailing again, or nil.
func (a *app) recentEmail(ctx context.Context, l db.Link, addr, exceptToken string) (*db.RecentEmail, error) {
	r, err := a.store.RecentLinkEmail(ctx, l.ID, addr, a.now().Add(-recentEmailWindow), exceptToken)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (a *app) composePage(c echo.Context, l db.Link, in composeInput, errs views.FieldErrors, prev *views.EmailPreview, version string) views.EmailComposePage {
	p := views.EmailComposePage{
		Layout: a.layout(c, "Email link #"+strconv.FormatInt(l.ID, 10), "links"), LinkID: l.ID, LinkURL: a.url(RouteLink, l.ID),
		Amount: formatMoney(l.AmountMinor, l.Currency), Customer: l.CustomerID, Action: a.url(RouteLinkEmailSend, l.ID),
		Values: in.values(), Errors: errs, FormToken: in.FormToken, TemplateVersion: version, Preview: prev,
		LocalMailbox: a.mailer.LocalMailbox(),
	}
	if hasRole(c, paylink.RoleAdmin) {
		p.TemplateURL = a.url(RouteEmailTemplate)
	}
	if why := outbox.Blocker(l, a.now()); why != "" {
		p.Unavailable = "Link #" + strconv.FormatInt(l.ID, 10) + " " + why + ": only open links with a checkout link that has not expired can be emailed."
	}
	return p
}

// emailCompose shows the form prefilled from the template, with the
// preview of exactly what Send sends.
func (a *app) emailCompose(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	in := composeInput{To: l.CustomerEmail, Name: l.KYC["fullName"], FormToken: newFormToken()}
	if outbox.Blocker(l, a.now()) != "" {
		return a.render(c, http.StatusConflict, views.EmailCompose(a.composePage(c, l, in, nil, nil, "")))
	}
	tpl, meta, err := a.emailTemplate(ctx)
	if err != nil {
		return err
	}
	version := templateVersion(meta)
	errs := views.FieldErrors{}
	if in.Subject, err = tpl.RenderSubject(a.emailData(l, in.To, in.Name, "")); err != nil {
		a.templateTrouble(c, l, err)
		errs["subject"] = "The email template has no usable subject for this link. Type a subject."
	}
	for k, v := range in.validate() {
		if _, taken := errs[k]; !taken {
			errs[k] = v
		}
	}
	var prev *views.EmailPreview
	var digest string
	if len(errs) == 0 {
		r, err := a.composeMessage(tpl, l, in)
		if err != nil {
			errs["form"] = a.templateTrouble(c, l, err)
		} else {
			prev = a.preview(in.To, in.Name, r)
			prev.HTMLURL = a.previewFrameURL(l, in, version)
			digest = a.previewDigest(l, in, r, version)
		}
	}
	p := a.composePage(c, l, in, errs, prev, version)
	p.Digest = digest
	return a.render(c, http.StatusOK, views.EmailCompose(p))
}

// emailSend previews or sends (action=send) the composed email. It sends
// only what was last previewed: the form carries the preview's digest, and
// a message that differs (a field edited since, a new template) is shown
// again, to be checked, instead. An email about the same link to the same
// customer in the last 24 hours is named and must be confirmed
// (action=send-again). Sending commits the outbox row with its timeline
// and audit entries, wakes the worker and redirects to the link.
func (a *app) emailSend(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ctx := c.Request().Context()
	in := parseComposeInput(form)
	if in.FormToken == "" {
		in.FormToken = newFormToken()
	}
	if outbox.Blocker(l, a.now()) != "" {
		return a.render(c, http.StatusConflict, views.EmailCompose(a.composePage(c, l, in, nil, nil, "")))
	}
	tpl, meta, err := a.emailTemplate(ctx)
	if err != nil {
		return err
	}
	version := templateVersion(meta)
	errs := in.validate()
	var r mail.Rendered
	if len(errs) == 0 {
		if r, err = a.composeMessage(tpl, l, in); err != nil {
			errs["form"] = a.templateTrouble(c, l, err)
		}
	}
	digest := ""
	if r.HTML != "" {
		digest = a.previewDigest(l, in, r, version)
	}
	var confirm *views.EmailConfirm
	show := func(status int, formErr string) error {
		if formErr != "" {
			errs["form"] = formErr
		}
		var prev *views.EmailPreview
		if r.HTML != "" {
			prev = a.preview(in.To, in.Name, r)
			prev.HTMLURL = a.previewFrameURL(l, in, version)
		}
		p := a.composePage(c, l, in, errs, prev, version)
		p.Digest, p.Confirm = digest, confirm
		return a.render(c, status, views.EmailCompose(p))
	}
	switch {
	case len(errs) > 0:
		return show(http.StatusUnprocessableEntity, "")
	case !in.Send:
		return show(http.StatusOK, "")
	case in.TemplateVersion != version:
		return show(http.StatusConflict, msgTemplateChanged)
	case in.Digest == "":
		return show(http.StatusConflict, msgPreviewFirst)
	case in.Digest != digest:
		return show(http.StatusConflict, msgChangedAfterPreview)
	}
	recent, err := a.recentEmail(ctx, l, in.To, in.FormToken)
	if err != nil {
		return err
	}
	if recent != nil && !(in.SendAgain && in.ConfirmAfter >= recent.ID) {
		confirm = &views.EmailConfirm{Message: a.recentMessage(*recent) + " Send again?", After: recent.ID}
		return show(http.StatusConflict, "")
	}
	if !a.allowSend(c, 1, "link:"+strconv.FormatInt(l.ID, 10)) {
		return show(http.StatusTooManyRequests, a.rateLimitMessage(1))
	}
	u := currentUser(c)
	ne := a.newEmail(l, in.To, in.Name, r, u.ID)
	ne.FormToken = in.FormToken
	e, created, err := a.store.QueueEmail(ctx, ne, a.auditEntry(c, "email.queue"))
	if err != nil {
		return err
	}
	if created {
		a.mailer.Wake()
		msg := "Email #" + strconv.FormatInt(e.ID, 10) + " to " + mail.Address{Name: e.ToName, Email: e.ToAddr}.Display() + " is queued; its state shows below."
		if a.mailer.LocalMailbox() {
			msg = "Email #" + strconv.FormatInt(e.ID, 10) + " will be kept in the local mailbox, not sent: no mail server is set up."
		}
		if err := a.flash(c, "ok", msg); err != nil {
			return err
		}
	}
	return a.redirect(c, a.url(RouteLink, l.ID)+"#emails")
}

// Headers of a preview frame: a policy that lets the email's own inline
// styles and images show and nothing run (no script, no form, no plugin,
// and the document sandboxed even when opened on its own), framed only by
// paylinks' own pages, never cached.
const previewFrameCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; font-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"

func setPreviewFrameHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", previewFrameCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// previewFrameText answers a preview frame with a sentence instead of the
// email (the frame shows it).
func previewFrameText(c echo.Context, status int, msg string) error {
	return c.Blob(status, "text/plain; charset=utf-8", []byte(msg+"\n"))
}

// emailPreviewHTML serves the HTML part of the message the compose form
// describes (its fields in the query), for the compose page's sandboxed
// frame: the bytes of the HTML part Send would queue and the worker send
// (composeMessage, then mail.HTMLPart, as mail.Build writes it).
func (a *app) emailPreviewHTML(c echo.Context) error {
	setPreviewFrameHeaders(c)
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	in := parseComposeInput(c.QueryParams())
	if why := outbox.Blocker(l, a.now()); why != "" {
		return previewFrameText(c, http.StatusConflict, "This link "+why+": it cannot be emailed.")
	}
	tpl, meta, err := a.emailTemplate(c.Request().Context())
	if err != nil {
		return err
	}
	if in.TemplateVersion != templateVersion(meta) {
		return previewFrameText(c, http.StatusConflict, "The email template changed since this page was shown. Press Update preview.")
	}
	if errs := in.validate(); len(errs) > 0 {
		return previewFrameText(c, http.StatusUnprocessableEntity, "Correct the highlighted fields to see the preview.")
	}
	r, err := a.composeMessage(tpl, l, in)
	if err != nil {
		return previewFrameText(c, http.StatusUnprocessableEntity, a.templateTrouble(c, l, err))
	}
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", []byte(mail.HTMLPart(r.HTML)))
}

// emailParam loads :eid, which must belong to the :id link.
func (a *app) emailParam(c echo.Context, l db.Link) (db.Email, error) {
	id, err := strconv.ParseInt(c.Param("eid"), 10, 64)
	if err != nil || id <= 0 {
		return db.Email{}, echo.NewHTTPError(http.StatusNotFound)
	}
	e, err := a.store.EmailByID(c.Request().Context(), id)
	if err != nil {
		return db.Email{}, err
	}
	if e.LinkID != l.ID {
		return db.Email{}, echo.NewHTTPError(http.StatusNotFound)
	}
	return e, nil
}

// emailResend queues a failed email again, as a new outbox row.
func (a *app) emailResend(c echo.Context) error {
	l, err := a.linkParam(c)
	if err != nil {
		return err
	}
	e, err := a.emailParam(c, l)
	if err != nil {
		return err
	}
	back := a.url(RouteLink, l.ID) + "#emails"
	if why := outbox.Blocker(l, a.now()); why != "" {
		if err := a.flash(c, "error", "Not resent: link #"+strconv.FormatInt(l.ID, 10)+" "+why+"."); err != nil {
			return err
		}
		return a.redirect(c, back)
	}
	if e.ResentAs != 0 {
		return a.redirect(c, back) // resent already (a double click): the page shows it
	}
	ctx := c.Request().Context()
	recent, err := a.recentEmail(ctx, l, e.ToAddr, "")
	if err != nil {
		return err
	}
	if after, _ := strconv.ParseInt(c.FormValue("confirm_after"), 10, 64); recent != nil && after < recent.ID {
		return a.render(c, http.StatusConflict, views.EmailResendConfirm(views.EmailResendConfirmPage{
			Layout: a.layout(c, "Resend email #"+strconv.FormatInt(e.ID, 10), "links"), EmailID: e.ID,
			To: mail.Address{Name: e.ToName, Email: e.ToAddr}.Display(), Subject: e.Subject,
			Message: a.recentMessage(*recent) + " Send again?", After: recent.ID,
			Action: a.url(RouteLinkEmailResend, l.ID, e.ID), BackURL: back,
		}))
	}
	if !a.allowSend(c, 1, "link:"+strconv.FormatInt(l.ID, 10)) {
		if err := a.flash(c, "error", a.rateLimitMessage(1)); err != nil {
			return err
		}
		return a.redirect(c, back)
	}
	r, err := a.store.ResendEmail(ctx, e.ID, currentUser(c).ID, a.opts.MailFrom.Domain(), a.auditEntry(c, "email.resend"))
	if errors.Is(err, db.ErrConflict) {
		return a.redirect(c, back) // resent already (a double click), or not failed: the page shows which
	}
	if err != nil {
		return err
	}
	a.mailer.Wake()
	if err := a.flash(c, "ok", "Email #"+strconv.FormatInt(e.ID, 10)+" is queued again as #"+strconv.FormatInt(r.ID, 10)+"."); err != nil {
		return err
	}
	return a.redirect(c, back)
}

// emailBatch queues one email per selected open link (form field ids,
// repeated; optional form_token against resubmits) and shows the batch.
// Links that cannot be emailed are skipped with the reason.
func (a *app) emailBatch(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	ctx := c.Request().Context()
	ids, err := linkIDs(form)
	if err != nil {
		return err
	}
	switch {
	case len(ids) == 0:
		if err := a.flash(c, "error", "Select at least one link to email."); err != nil {
			return err
		}
		return a.redirect(c, a.url(RouteLinks))
	case len(ids) > maxBatchLinks:
		if err := a.flash(c, "error", fmt.Sprintf("Email at most %d links at once (%d selected).", maxBatchLinks, len(ids))); err != nil {
			return err
		}
		return a.redirect(c, a.url(RouteLinks))
	}
	tpl, _, err := a.emailTemplate(ctx)
	if err != nil {
		return err
	}
	confirmed := map[int64]bool{} // links to email again although emailed in the last 24 hours
	for _, raw := range form["confirm"] {
		if id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64); err == nil {
			confirmed[id] = true
		}
	}
	u := currentUser(c)
	now := a.now()
	var emails []db.NewEmail
	var skipped []db.BatchSkip
	for _, id := range ids {
		l, err := a.store.LinkByID(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			skipped = append(skipped, db.BatchSkip{LinkID: id, Reason: "There is no such link."})
			continue
		}
		if err != nil {
			return err
		}
		if why := outbox.Blocker(l, now); why != "" {
			skipped = append(skipped, db.BatchSkip{LinkID: id, Reason: "Not emailed: the link " + why + "."})
			continue
		}
		to, err := mail.ParseAddress(l.CustomerEmail)
		if err != nil {
			skipped = append(skipped, db.BatchSkip{LinkID: id, Reason: "Not emailed: the customer's address " + err.Error() + "; email it from the link page."})
			continue
		}
		name := l.KYC["fullName"]
		if mail.CheckHeader(name, mail.MaxNameLength) != nil {
			name = ""
		}
		if !confirmed[id] {
			recent, err := a.recentEmail(ctx, l, to, "")
			if err != nil {
				return err
			}
			if recent != nil {
				skipped = append(skipped, db.BatchSkip{LinkID: id, Recent: true,
					Reason: "Not emailed: " + a.recentMessage(*recent) + " To email it again, use Email again below."})
				continue
			}
		}
		r, err := tpl.Render(a.emailData(l, to, name, ""))
		if err != nil {
			a.templateTrouble(c, l, err)
			skipped = append(skipped, db.BatchSkip{LinkID: id, Reason: "Not emailed: the email template cannot be filled in for this link. Ask an administrator to check the email template."})
			continue
		}
		emails = append(emails, a.newEmail(l, to, name, r, u.ID))
	}
	if len(emails) > 0 && !a.allowSend(c, len(emails), "email_batch") {
		return echo.NewHTTPError(http.StatusTooManyRequests, a.rateLimitMessage(len(emails)))
	}
	token := truncate(form.Get("form_token"), maxFormTokenSize)
	id, created, err := a.store.QueueEmailBatch(ctx, token, u.ID, emails, skipped, a.auditEntry(c, "email.batch"))
	if err != nil {
		return err
	}
	if created && len(emails) > 0 {
		a.mailer.Wake()
	}
	return a.redirect(c, a.url(RouteEmailBatch, id))
}

// emailBatchPage shows each link of a batch with its email's state, and
// refreshes itself (a Refresh header, no script) until all are settled.
func (a *app) emailBatchPage(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	b, err := a.store.EmailBatchByID(ctx, id)
	if err != nil {
		return err
	}
	rows, err := a.store.BatchEmails(ctx, id)
	if err != nil {
		return err
	}
	now := a.now()
	p := views.EmailBatchPage{Layout: a.layout(c, "Email batch #"+strconv.FormatInt(id, 10), "links"), ID: id, By: b.CreatedByName,
		Created: when(viewerZone(c), b.CreatedAt), LinksURL: a.url(RouteLinks), LocalMailbox: a.mailer.LocalMailbox(), Done: true}
	counts := map[string]int{}
	links := map[int64]db.Link{}
	link := func(id int64) (db.Link, bool) {
		if l, ok := links[id]; ok {
			return l, true
		}
		l, err := a.store.LinkByID(ctx, id)
		if err != nil {
			return db.Link{}, false
		}
		links[id] = l
		return l, true
	}
	for _, e := range rows {
		r := a.emailRow(c, e, now, false)
		if l, ok := link(e.LinkID); ok {
			r.Amount, r.Customer = formatMoney(l.AmountMinor, l.Currency), l.CustomerID
		}
		if e.Status == db.EmailQueued {
			p.Done = false
		}
		counts[r.StateLabel]++
		p.Rows = append(p.Rows, r)
	}
	var again []int64
	for _, s := range b.Skipped {
		r := views.EmailRow{LinkID: s.LinkID, State: views.EmailStateSkipped, StateLabel: "skipped", Detail: s.Reason}
		if l, ok := link(s.LinkID); ok {
			r.LinkURL, r.Amount, r.Customer = a.url(RouteLink, l.ID), formatMoney(l.AmountMinor, l.Currency), l.CustomerID
			if s.Recent && outbox.Blocker(l, now) == "" {
				again = append(again, l.ID)
			}
		}
		counts["skipped"]++
		p.Rows = append(p.Rows, r)
	}
	for _, k := range []string{"queued", "sending", "retrying", "sent", "kept in the local mailbox", "failed", "not sent", "skipped"} {
		if counts[k] > 0 {
			p.Counts = append(p.Counts, views.KV{Key: k, Value: strconv.Itoa(counts[k])})
		}
	}
	if len(again) > 0 {
		p.Again = &views.EmailAgain{Action: a.url(RouteLinksEmail), FormToken: newFormToken(), LinkIDs: again}
	}
	if !p.Done {
		c.Response().Header().Set("Refresh", strconv.Itoa(batchRefreshAfter))
	}
	return a.render(c, http.StatusOK, views.EmailBatch(p))
}

// emailRow describes one email for staff: its state in words, when, the
// server's reason, and what they can do about it.
func (a *app) emailRow(c echo.Context, e db.Email, now time.Time, resendable bool) views.EmailRow {
	r := views.EmailRow{
		ID: e.ID, LinkID: e.LinkID, LinkURL: a.url(RouteLink, e.LinkID),
		To: mail.Address{Name: e.ToName, Email: e.ToAddr}.Display(), Subject: e.Subject,
		By: e.CreatedByName, Created: when(viewerZone(c), e.CreatedAt),
	}
	if e.Kind == db.KindReminder {
		// The reminder job queued it, not the person who made the link.
		r.By = "paylinks (an automatic reminder)"
	}
	switch e.Status {
	case db.EmailSent:
		r.State, r.StateLabel = views.EmailStateSent, "sent"
		r.Detail = "Sent " + when(viewerZone(c), e.FinishedAt) + "."
		if e.ServerReply != "" {
			r.Detail += " The mail server answered: " + e.ServerReply
		}
	case db.EmailKept:
		r.State, r.StateLabel = views.EmailStateKept, "kept in the local mailbox"
		r.Detail = "Not sent: no mail server is set up, so it was kept in the local mailbox " + when(viewerZone(c), e.FinishedAt) + "."
		if hasRole(c, paylink.RoleAdmin) {
			r.MailboxURL = a.url(RouteMailboxMessage, e.ID)
		}
	case db.EmailFailed:
		r.State, r.StateLabel = views.EmailStateFailed, "failed"
		r.Detail = "Failed " + when(viewerZone(c), e.FinishedAt) + ": " + e.LastError
		switch {
		case e.ResentAs != 0:
			r.Detail += " Resent as #" + strconv.FormatInt(e.ResentAs, 10) + "."
		case resendable:
			r.ResendURL = a.url(RouteLinkEmailResend, e.LinkID, e.ID)
		}
	case db.EmailCancelled:
		r.State, r.StateLabel = views.EmailStateCancelled, "not sent"
		r.Detail = "Not sent: " + e.LastError
	default: // queued
		switch {
		case e.Claimed(now):
			r.State, r.StateLabel = views.EmailStateSending, "sending"
			r.Detail = fmt.Sprintf("Attempt %d of %d in progress.", e.Attempts, a.mailer.MaxAttempts())
		case e.Attempts > 0:
			r.State, r.StateLabel = views.EmailStateRetrying, "retrying"
			last := e.LastError
			if last == "" {
				last = "it did not report back (paylinks stopped while sending); the message may arrive twice, with the same Message-ID"
			}
			next := e.NextAttemptAt
			if next.Before(now) {
				next = now
			}
			r.Detail = fmt.Sprintf("Attempt %d of %d failed: %s. Next attempt at %s (%s).", e.Attempts, a.mailer.MaxAttempts(),
				strings.TrimSuffix(last, "."), when(viewerZone(c), next), relative(next, now))
		default:
			r.State, r.StateLabel = views.EmailStateQueued, "queued"
			r.Detail = "Waiting to be sent."
		}
	}
	return r
}

// emailPanel is the "Email to customer" section of the link page.
func (a *app) emailPanel(c echo.Context, l db.Link) (*views.EmailPanel, error) {
	emails, err := a.store.LinkEmails(c.Request().Context(), l.ID)
	if err != nil {
		return nil, err
	}
	now := a.now()
	canSend := hasRole(c, paylink.RoleFinance)
	why := outbox.Blocker(l, now)
	p := &views.EmailPanel{LocalMailbox: a.mailer.LocalMailbox()}
	switch {
	case canSend && why == "":
		p.ComposeURL = a.url(RouteLinkEmail, l.ID)
	case canSend:
		p.Unavailable = "This link " + why + ": only open links with a checkout link that has not expired can be emailed."
	}
	for _, e := range emails {
		p.Emails = append(p.Emails, a.emailRow(c, e, now, canSend && why == ""))
	}
	return p, nil
}
