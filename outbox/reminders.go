package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/paylink"
)

// DefaultReminderTemplate is the reminder email until an admin saves their
// own (on the email template page, beside the payment-link email). It
// takes the same placeholders.
var DefaultReminderTemplate = mail.Template{
	Subject: `Reminder: your payment link from {{.CompanyName}}: {{.Amount}}{{if .WebsiteReference}} ({{.WebsiteReference}}){{end}}`,
	Text: `{{if .CustomerName}}Hello {{.CustomerName}},{{else}}Hello,{{end}}

A friendly reminder: {{.CompanyName}} asked you to pay {{.Amount}}{{if .WebsiteReference}} for {{.WebsiteReference}}{{end}}, and the payment has not reached us yet.

Pay securely with this link:
{{.Link}}
{{if .ExpiresAt}}
The link is valid until {{.ExpiresAt}}.
{{end}}
If you have paid already, thank you: please ignore this email. If you have a question, reply to it{{if .WebsiteReference}} and quote {{.WebsiteReference}}{{end}}.

{{.CompanyName}}
`,
	HTML: `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Payment reminder</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2328">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px">
<tr><td style="padding:28px">
<p>{{if .CustomerName}}Hello {{.CustomerName}},{{else}}Hello,{{end}}</p>
<p>A friendly reminder: {{.CompanyName}} asked you to pay <strong>{{.Amount}}</strong>{{if .WebsiteReference}} for <strong>{{.WebsiteReference}}</strong>{{end}}, and the payment has not reached us yet.</p>
<p style="margin:28px 0"><a href="{{.Link}}" style="background:{{.AccentColor}};color:#ffffff;padding:12px 22px;border-radius:6px;text-decoration:none;display:inline-block">Pay {{.Amount}}</a></p>
<p style="font-size:13px;color:#57606a">Or open this link: <a href="{{.Link}}">{{.Link}}</a></p>
{{if .ExpiresAt}}<p style="font-size:13px;color:#57606a">The link is valid until {{.ExpiresAt}}.</p>{{end}}
<p>If you have paid already, thank you: please ignore this email. If you have a question, reply to it{{if .WebsiteReference}} and quote {{.WebsiteReference}}{{end}}.</p>
<p>{{.CompanyName}}</p>
</td></tr>
</table>
</body>
</html>
`,
}

// ReminderStore is the storage the reminder job needs (*db.Store).
type ReminderStore interface {
	DueReminders(ctx context.Context, now time.Time, limit int) ([]db.DueReminder, error)
	LinkByID(ctx context.Context, id int64) (db.Link, error)
	LinkReminders(ctx context.Context, linkID int64) (db.LinkReminders, error)
	EmailTemplate(ctx context.Context, name string) (db.EmailTemplate, error)
	QueueReminder(ctx context.Context, linkID int64, number int, ne db.NewEmail, stopWhy func(paylink.Status) string) (db.ReminderOutcome, int64, error)
	StopReminders(ctx context.Context, linkID int64, why string) error
	GetSettings(ctx context.Context) (db.Settings, error)
}

// Reminder job defaults (own picks).
const (
	DefaultReminderInterval = time.Minute
	DefaultReminderBatch    = 200
)

// ReminderConfig configures the reminder job; zero values take defaults.
type ReminderConfig struct {
	From        mail.Address // the configured sender (PAYLINKS_MAIL_FROM)
	CompanyName string       // the first-run company name, until Settings name one (BrandOf)
	// Money formats an amount for the email ({{.Amount}}); nil writes
	// "1250.00 EUR" (two decimals assumed).
	Money    func(minor int64, currency string) string
	Now      func() time.Time
	Logger   *slog.Logger
	Interval time.Duration
	Batch    int
	// Wake tells the mail worker rows were queued (Mailer.Wake); may be nil.
	Wake func()
}

// Reminders queues due reminders: every interval it lists the links whose
// next reminder is due (one indexed query), renders each link's reminder
// from the reminder template and commits it through db.Store.QueueReminder,
// which queues it exactly once (a unique key per link and reminder number)
// however many runs or processes try. The mail worker sends it like any
// email, after checking at send time that the link is still open.
type Reminders struct {
	store ReminderStore
	cfg   ReminderConfig
	log   *slog.Logger
}

// NewReminders builds the reminder job's service.
func NewReminders(store ReminderStore, cfg ReminderConfig) *Reminders {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultReminderInterval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultReminderBatch
	}
	if cfg.Money == nil {
		cfg.Money = plainMoney
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reminders{store: store, cfg: cfg, log: log.With("component", "reminders")}
}

// plainMoney is the fallback amount format, "9.50 EUR", assuming two
// decimals: app passes the pages' formatter (handlers.FormatMoney).
func plainMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}

// Job runs the reminders at start (what fell due while paylinks was down)
// and every interval.
func (r *Reminders) Job() jobs.Job {
	run := func(ctx context.Context) error { _, err := r.RunOnce(ctx); return err }
	return jobs.Job{Name: "reminders", Interval: r.cfg.Interval, AtStart: run, Run: run}
}

// ReminderTemplate is the saved reminder template, or the built-in one,
// compiled.
func ReminderTemplate(ctx context.Context, store interface {
	EmailTemplate(ctx context.Context, name string) (db.EmailTemplate, error)
}) (*mail.Compiled, error) {
	t := DefaultReminderTemplate
	saved, err := store.EmailTemplate(ctx, db.ReminderTemplateName)
	switch {
	case err == nil:
		t = mail.Template{Subject: saved.Subject, Text: saved.Text, HTML: saved.HTML}
	case !errors.Is(err, db.ErrNotFound):
		return nil, err
	}
	c, err := t.Compile()
	if err != nil {
		return nil, fmt.Errorf("stored reminder template: %w", err)
	}
	return c, nil
}

// RunOnce queues every reminder due now and says how many it queued.
func (r *Reminders) RunOnce(ctx context.Context) (int, error) {
	queued := 0
	defer func() {
		if queued > 0 && r.cfg.Wake != nil {
			r.cfg.Wake()
		}
	}()
	var tpl *mail.Compiled
	var brand mail.Brand
	for range 50 { // at most 50 batches a run; the next run carries on
		now := r.cfg.Now()
		due, err := r.store.DueReminders(ctx, now, r.cfg.Batch)
		if err != nil || len(due) == 0 {
			return queued, err
		}
		if tpl == nil {
			if tpl, err = ReminderTemplate(ctx, r.store); err != nil {
				return queued, err
			}
			// The merchant's brand, as the first email carries it.
			st, err := r.store.GetSettings(ctx)
			if err != nil {
				return queued, err
			}
			brand = BrandOf(st, r.cfg.CompanyName)
		}
		progressed := false
		for _, d := range due {
			if ctx.Err() != nil {
				return queued, ctx.Err()
			}
			out, err := r.one(ctx, tpl, brand, d, now)
			if err != nil {
				r.log.Error("reminder", "link_id", d.LinkID, "number", d.Number, "err", err)
				continue
			}
			if out == db.ReminderQueued {
				queued++
			}
			progressed = true
		}
		if len(due) < r.cfg.Batch || !progressed {
			return queued, nil
		}
	}
	return queued, nil
}

// one queues one due reminder, or stops the link's schedule.
func (r *Reminders) one(ctx context.Context, tpl *mail.Compiled, brand mail.Brand, d db.DueReminder, now time.Time) (db.ReminderOutcome, error) {
	l, err := r.store.LinkByID(ctx, d.LinkID)
	if err != nil {
		return db.ReminderTaken, err
	}
	stopWhy := func(s paylink.Status) string {
		if why, ok := notOpen[s]; ok {
			return "the link " + why
		}
		return "the link is " + string(s)
	}
	if why := Blocker(l, now); why != "" && l.Status == paylink.StatusOpen && l.HeldCheckoutHost == "" {
		// Open but past its expiry: the expiry sweep ends it shortly, and
		// the schedule stops then. Nothing is queued meanwhile.
		return db.ReminderTaken, nil
	}
	rs, err := r.store.LinkReminders(ctx, d.LinkID)
	if err != nil {
		return db.ReminderTaken, err
	}
	name := rs.ToName
	if mail.CheckHeader(name, mail.MaxNameLength) != nil {
		name = ""
	}
	data := brand.Apply(mail.Data{
		CustomerName: name, CustomerID: l.CustomerID, CustomerEmail: rs.ToAddr,
		Amount: r.cfg.Money(l.AmountMinor, l.Currency), Currency: l.Currency, Link: l.CheckoutURL,
		ExpiresAt: formatWhen(l.ExpiresAt), WebsiteReference: l.WebsiteReference,
	})
	msg, err := tpl.Render(data)
	if err != nil {
		why := "the reminder template cannot be filled in for this link (" + err.Error() + ")"
		return db.ReminderStopped, r.store.StopReminders(ctx, d.LinkID, why)
	}
	ne := db.NewEmail{
		FromAddr: r.cfg.From.Email, FromName: brand.SenderName(r.cfg.From, r.cfg.CompanyName), ToAddr: rs.ToAddr, ToName: name,
		Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML, MessageIDDomain: r.cfg.From.Domain(), CreatedBy: l.CreatedBy,
	}
	out, id, err := r.store.QueueReminder(ctx, d.LinkID, d.Number, ne, stopWhy)
	switch {
	case err != nil:
		return out, err
	case out == db.ReminderQueued:
		r.log.Info("reminder queued", "link_id", d.LinkID, "number", d.Number, "outbox_id", id)
	case out == db.ReminderStopped:
		r.log.Info("reminders stopped", "link_id", d.LinkID, "status", l.Status)
	}
	return out, nil
}

// formatWhen is how emails write a time: 2 Dec 2026 09:00 UTC.
func formatWhen(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}
