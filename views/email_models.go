package views

// Email states as staff see them (EmailRow.State); the CSS class and the
// data-state attribute carry the same word.
const (
	EmailStateQueued    = "queued"
	EmailStateSending   = "sending"
	EmailStateRetrying  = "retrying"
	EmailStateSent      = "sent"
	EmailStateKept      = "kept"
	EmailStateFailed    = "failed"
	EmailStateCancelled = "cancelled"
	EmailStateSkipped   = "skipped" // batch only: the link was not emailed
)

// EmailPanel is the "Email to customer" part of a link page.
type EmailPanel struct {
	ComposeURL   string // "" when the viewer may not send or the link cannot be emailed
	Unavailable  string // why this link cannot be emailed now, for staff who could send
	LocalMailbox bool   // no SMTP server: emails are kept, not sent
	Emails       []EmailRow
}

// EmailRow is one email of a link, or one line of a batch.
type EmailRow struct {
	ID         int64
	LinkID     int64
	LinkURL    string
	Amount     string
	Customer   string
	To         string // "Ada Lovelace <ada@example.com>"
	Subject    string
	State      string // one of the EmailState constants
	StateLabel string // "retrying", "kept in the local mailbox", …
	Detail     string // a sentence: when, the server's words, the next attempt
	By         string
	Created    string
	ResendURL  string // set when staff may resend it
	MailboxURL string // set for kept emails, for admins
}

// EmailPreview is exactly what a message will say.
type EmailPreview struct {
	From    string // for display: names as typed, never RFC 2047-encoded
	To      string
	Subject string
	Text    string
	HTML    string // the HTML source, shown as text
	// HTMLURL serves the HTML part itself, under its own policy, for a
	// sandboxed frame.
	HTMLURL string
	// DraftURL, for an unsaved template draft (no HTMLURL), is where the
	// editor form posts the draft to show its HTML part in the frame.
	DraftURL string
}

// EmailConfirm asks before emailing a customer who was emailed about the
// link in the last 24 hours.
type EmailConfirm struct {
	Message string // "Zoë was emailed about this link 2 hours ago by Ana (ana@…). Send again?"
	After   int64  // the newest email the confirmation knows of
}

// EmailComposePage is the form that emails one link to its customer.
type EmailComposePage struct {
	Layout          Layout
	LinkID          int64
	LinkURL         string
	Amount          string
	Customer        string
	Action          string
	Values          map[string]string // to, name, subject, message
	Errors          FieldErrors       // by field; "form" for the page
	FormToken       string
	TemplateVersion string
	Preview         *EmailPreview // nil while the form has errors
	Digest          string        // of the previewed message; Send sends only that
	Confirm         *EmailConfirm // set when Send must be confirmed
	Unavailable     string        // set when the link cannot be emailed: no form
	LocalMailbox    bool
	TemplateURL     string // the admin template page, for admins
}

// Value returns a field's value.
func (p EmailComposePage) Value(name string) string { return p.Values[name] }

// EmailBatchPage shows the progress of one batch.
type EmailBatchPage struct {
	Layout       Layout
	ID           int64
	By           string
	Created      string
	Rows         []EmailRow
	Done         bool // every email is settled: the page stops refreshing
	Counts       []KV // state → number, for the summary line
	LinksURL     string
	LocalMailbox bool
	Again        *EmailAgain // links skipped as emailed in the last 24 hours, offered again
}

// EmailAgain emails the links of a batch again that were skipped because
// their customers were emailed about them in the last 24 hours.
type EmailAgain struct {
	Action    string
	FormToken string
	LinkIDs   []int64
}

// EmailResendConfirmPage asks before resending an email to a customer who
// was emailed about the link in the last 24 hours.
type EmailResendConfirmPage struct {
	Layout  Layout
	EmailID int64
	To      string
	Subject string
	Message string
	After   int64
	Action  string
	BackURL string
}

// Placeholder is one value templates may use.
type Placeholder struct {
	Name string // "{{.Amount}}"
	Help string
}

// EmailTemplatePage is the admin template editor.
type EmailTemplatePage struct {
	Layout       Layout
	Action       string
	Values       map[string]string // subject, text, html
	Errors       FieldErrors
	Placeholders []Placeholder
	Preview      *EmailPreview
	IsDefault    bool   // no saved template: the built-in one is in use
	Updated      string // "2 Dec 2026 09:00 UTC by Ada"
	DefaultURL   string // loads the built-in template into the form
	// Template names the template being edited (a hidden field); Tabs
	// switch between the payment-link email and the reminder.
	Template string
	Title    string
	Tabs     []TemplateTab
}

// TemplateTab links to one editable template.
type TemplateTab struct {
	Label, URL string
	Current    bool
}

// Value returns a field's value.
func (p EmailTemplatePage) Value(name string) string { return p.Values[name] }

// MailboxPage lists emails kept instead of sent.
type MailboxPage struct {
	Layout       Layout
	Rows         []EmailRow
	LocalMailbox bool // still no SMTP server configured
}

// MailboxMessagePage shows one kept email in full.
type MailboxMessagePage struct {
	Layout    Layout
	Row       EmailRow
	MessageID string
	Kept      string
	Preview   EmailPreview
	Raw       string
	BackURL   string
}
