package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/views"
)

// mailboxPageSize is how many kept emails the mailbox lists.
const mailboxPageSize = 200

// editableTemplate is one admin-edited email template.
type editableTemplate struct {
	Name, Label, Saved string
	Default            mail.Template
}

// editableTemplates are the templates the email template page edits, in
// its tab order: the payment-link email and the reminder.
var editableTemplates = []editableTemplate{
	{db.EmailTemplateName, "Payment link email", "Email template saved. Emails queued from now on use it.", mail.DefaultTemplate},
	{db.ReminderTemplateName, "Reminder email", "Reminder template saved. Reminders queued from now on use it.", outbox.DefaultReminderTemplate},
}

// templateParam is the template named by the request (query or form field
// template; the payment-link email when absent); 404 for an unknown one.
func templateParam(name string) (editableTemplate, error) {
	if name == "" {
		return editableTemplates[0], nil
	}
	for _, t := range editableTemplates {
		if t.Name == name {
			return t, nil
		}
	}
	return editableTemplate{}, echo.NewHTTPError(http.StatusNotFound)
}

func (a *app) templateURL(name string) string {
	return a.url(RouteEmailTemplate) + "?template=" + url.QueryEscape(name)
}

func (a *app) templatePage(c echo.Context, which editableTemplate, t mail.Template, errs views.FieldErrors, meta db.EmailTemplate, saved bool) views.EmailTemplatePage {
	p := views.EmailTemplatePage{
		Layout: a.layout(c, "Email templates", "email-template"), Action: a.url(RouteEmailTemplateSave),
		Values: map[string]string{"subject": t.Subject, "text": t.Text, "html": t.HTML}, Errors: errs,
		IsDefault: !saved, DefaultURL: a.templateURL(which.Name) + "&default=1",
		Template: which.Name, Title: which.Label,
	}
	for _, et := range editableTemplates {
		p.Tabs = append(p.Tabs, views.TemplateTab{Label: et.Label, URL: a.templateURL(et.Name), Current: et.Name == which.Name})
	}
	if saved {
		p.Updated = when(viewerZone(c), meta.UpdatedAt)
		if meta.UpdatedByName != "" {
			p.Updated += " by " + meta.UpdatedByName
		}
	}
	for _, ph := range mail.Placeholders {
		p.Placeholders = append(p.Placeholders, views.Placeholder{Name: "{{." + ph.Name + "}}", Help: ph.Help})
	}
	return p
}

// samplePreview renders a compiled template with the sample values.
func (a *app) samplePreview(c *mail.Compiled) (*views.EmailPreview, error) {
	d := brandMailData(mail.SampleData(""), a.brandNow())
	r, err := c.Render(d)
	if err != nil {
		return nil, err
	}
	return a.preview(d.CustomerEmail, d.CustomerName, r), nil
}

// templateErrors maps a TemplateErrors onto the form's fields.
func templateErrors(err error) views.FieldErrors {
	errs := views.FieldErrors{}
	var te mail.TemplateErrors
	if errors.As(err, &te) {
		for part, msg := range te {
			errs[part] = "Not saved: " + msg + "."
		}
		return errs
	}
	errs["html"] = err.Error()
	return errs
}

// emailTemplateForm shows a template (?template=payment_link or reminder;
// saved or built in) with a preview on sample data; ?default=1 loads the
// built-in one into the form.
func (a *app) emailTemplateForm(c echo.Context) error {
	which, err := templateParam(c.QueryParam("template"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	meta, err := a.store.EmailTemplate(ctx, which.Name)
	saved := err == nil
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	t := which.Default
	if saved && c.QueryParam("default") == "" {
		t = mail.Template{Subject: meta.Subject, Text: meta.Text, HTML: meta.HTML}
	}
	p := a.templatePage(c, which, t, nil, meta, saved)
	compiled, err := t.Compile()
	if err != nil {
		p.Errors = templateErrors(err)
	} else if p.Preview, err = a.samplePreview(compiled); err != nil {
		p.Errors = templateErrors(err)
	} else {
		p.Preview.HTMLURL = a.url(RouteEmailTemplatePreviewHTML) + "?template=" + url.QueryEscape(which.Name)
		if c.QueryParam("default") != "" {
			p.Preview.HTMLURL += "&default=1"
		}
	}
	return a.render(c, http.StatusOK, views.EmailTemplate(p))
}

// emailTemplatePreviewHTML serves the HTML part of the saved (or, with
// ?default=1 or none saved, the built-in) template named by ?template=
// filled in with the sample values, for the editor's sandboxed frame.
func (a *app) emailTemplatePreviewHTML(c echo.Context) error {
	setPreviewFrameHeaders(c)
	which, err := templateParam(c.QueryParam("template"))
	if err != nil {
		return err
	}
	t := which.Default
	meta, err := a.store.EmailTemplate(c.Request().Context(), which.Name)
	switch {
	case err == nil && c.QueryParam("default") == "":
		t = mail.Template{Subject: meta.Subject, Text: meta.Text, HTML: meta.HTML}
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return err
	}
	return a.templateFrame(c, t)
}

// emailTemplateDraftHTML serves the HTML part of the template draft the
// editor form posts (its "show this draft" button targets the frame),
// filled in with the sample values.
func (a *app) emailTemplateDraftHTML(c echo.Context) error {
	setPreviewFrameHeaders(c)
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	return a.templateFrame(c, templateFromForm(form))
}

// templateFrame answers a preview frame with the HTML part of t filled in
// with the sample values, as mail.Build would write it.
func (a *app) templateFrame(c echo.Context, t mail.Template) error {
	compiled, err := t.Compile()
	if err != nil {
		return previewFrameText(c, http.StatusUnprocessableEntity, "The template cannot be shown: "+err.Error())
	}
	r, err := compiled.Render(mail.SampleData(a.opts.CompanyName))
	if err != nil {
		return previewFrameText(c, http.StatusUnprocessableEntity, "The template cannot be shown: "+err.Error())
	}
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", []byte(mail.HTMLPart(r.HTML)))
}

// templateFromForm reads the editor's fields.
func templateFromForm(form url.Values) mail.Template {
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	return mail.Template{Subject: strings.TrimSpace(form.Get("subject")), Text: norm(form.Get("text")), HTML: norm(form.Get("html"))}
}

// saveEmailTemplate validates the template named by the form field
// template (known placeholders only, a one-line subject, every part
// renders) and previews it (action=preview) or saves and audits it.
func (a *app) saveEmailTemplate(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	which, err := templateParam(form.Get("template"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t := templateFromForm(form)
	meta, err := a.store.EmailTemplate(ctx, which.Name)
	saved := err == nil
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	p := a.templatePage(c, which, t, nil, meta, saved)
	compiled, err := t.Compile()
	if err == nil {
		if p.Preview, err = a.samplePreview(compiled); err == nil {
			p.Preview.DraftURL = a.url(RouteEmailTemplateDraftHTML)
		}
	}
	if err != nil {
		p.Errors = templateErrors(err)
		return a.render(c, http.StatusUnprocessableEntity, views.EmailTemplate(p))
	}
	if form.Get("action") != "save" {
		return a.render(c, http.StatusOK, views.EmailTemplate(p))
	}
	if err := a.store.SaveEmailTemplate(ctx, db.EmailTemplate{Name: which.Name, Subject: t.Subject, Text: t.Text, HTML: t.HTML},
		currentUser(c).ID, a.auditEntry(c, "email.template.change")); err != nil {
		return err
	}
	if err := a.flash(c, "ok", which.Saved); err != nil {
		return err
	}
	return a.redirect(c, a.templateURL(which.Name))
}

// mailbox lists the emails kept instead of sent (no SMTP configured).
func (a *app) mailbox(c echo.Context) error {
	rows, err := a.store.MailboxEmails(c.Request().Context(), mailboxPageSize)
	if err != nil {
		return err
	}
	p := views.MailboxPage{Layout: a.layout(c, "Local mailbox", "mailbox"), LocalMailbox: a.mailer.LocalMailbox()}
	now := a.now()
	for _, e := range rows {
		r := a.emailRow(c, e, now, false)
		r.Created = when(viewerZone(c), e.FinishedAt)
		r.MailboxURL = a.url(RouteMailboxMessage, e.ID)
		p.Rows = append(p.Rows, r)
	}
	return a.render(c, http.StatusOK, views.Mailbox(p))
}

// mailboxMessage shows one kept email: headers, both parts, raw source.
func (a *app) mailboxMessage(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	e, raw, err := a.store.MailboxEmail(c.Request().Context(), id)
	if err != nil {
		return err
	}
	p := views.MailboxMessagePage{
		Layout: a.layout(c, "Kept email #"+strconv.FormatInt(e.ID, 10), "mailbox"), Row: a.emailRow(c, e, a.now(), false),
		MessageID: e.MessageID, Kept: when(viewerZone(c), e.FinishedAt), Raw: string(raw), BackURL: a.url(RouteMailbox),
		Preview: views.EmailPreview{
			From: mail.Address{Name: e.FromName, Email: e.FromAddr}.Display(), To: mail.Address{Name: e.ToName, Email: e.ToAddr}.Display(),
			Subject: e.Subject, Text: e.Text, HTML: e.HTML, HTMLURL: a.url(RouteMailboxMessageHTML, e.ID),
		},
	}
	return a.render(c, http.StatusOK, views.MailboxMessage(p))
}

// mailboxMessageHTML serves the HTML part of a kept email, as it would
// have been sent, for the sandboxed frame of its page.
func (a *app) mailboxMessageHTML(c echo.Context) error {
	setPreviewFrameHeaders(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	e, _, err := a.store.MailboxEmail(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", []byte(mail.HTMLPart(e.HTML)))
}
