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
)

// ImportEmailStore is the storage the import emails need. *db.Store
// implements it.
type ImportEmailStore interface {
	ImportEmailsDue(ctx context.Context, limit int) ([]db.Link, error)
	QueueImportEmail(ctx context.Context, ne db.NewEmail, a db.AuditEntry) (bool, error)
	EmailTemplate(ctx context.Context, name string) (db.EmailTemplate, error)
	GetSettings(ctx context.Context) (db.Settings, error)
}

// ImportEmails queues, once each link of a bulk import is open, the
// email its row asked for ("email" yes): the first-email template staff
// send from a link's page, with the merchant's brand, through the outbox
// (sent after the commit, retried, checked against the link's status at
// send time, at most once per link).
type ImportEmails struct {
	store ImportEmailStore
	cfg   ReminderConfig
	log   *slog.Logger
}

// NewImportEmails builds the job; cfg is the reminders' (sender, company
// name, money format, clock, wake).
func NewImportEmails(store ImportEmailStore, cfg ReminderConfig) *ImportEmails {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Money == nil {
		cfg.Money = plainMoney
	}
	return &ImportEmails{store: store, cfg: cfg, log: cfg.Logger.With("component", "import-emails")}
}

// Job runs at start and every 5 s.
func (m *ImportEmails) Job() jobs.Job {
	return jobs.Job{Name: "import-emails", Interval: 5 * time.Second, AtStart: m.run, Run: m.run}
}

func (m *ImportEmails) run(ctx context.Context) error { _, err := m.RunOnce(ctx); return err }

// RunOnce queues the emails due now (at most 200) and says how many.
func (m *ImportEmails) RunOnce(ctx context.Context) (int, error) {
	due, err := m.store.ImportEmailsDue(ctx, 200)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	t, err := m.store.EmailTemplate(ctx, db.EmailTemplateName)
	tmpl := mail.DefaultTemplate
	switch {
	case err == nil:
		tmpl = mail.Template{Subject: t.Subject, Text: t.Text, HTML: t.HTML}
	case !errors.Is(err, db.ErrNotFound):
		return 0, err
	}
	tpl, err := tmpl.Compile()
	if err != nil {
		return 0, fmt.Errorf("stored email template: %w", err)
	}
	st, err := m.store.GetSettings(ctx)
	if err != nil {
		return 0, err
	}
	brand := BrandOf(st, m.cfg.CompanyName)
	queued := 0
	now := m.cfg.Now()
	for _, l := range due {
		if Blocker(l, now) != "" {
			continue
		}
		name := l.KYC["fullName"]
		if mail.CheckHeader(name, mail.MaxNameLength) != nil {
			name = ""
		}
		msg, err := tpl.Render(brand.Apply(mail.Data{CustomerName: name, CustomerID: l.CustomerID, CustomerEmail: l.CustomerEmail,
			Amount: m.cfg.Money(l.AmountMinor, l.Currency), Currency: l.Currency, Link: l.CheckoutURL,
			ExpiresAt: formatWhen(l.ExpiresAt), WebsiteReference: l.WebsiteReference}))
		if err != nil {
			m.log.Warn("import email: the template cannot be filled in", "link_id", l.ID, "err", err)
			continue
		}
		ne := db.NewEmail{LinkID: l.ID, FromAddr: m.cfg.From.Email, FromName: brand.SenderName(m.cfg.From, m.cfg.CompanyName),
			ToAddr: l.CustomerEmail, ToName: name, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML,
			MessageIDDomain: m.cfg.From.Domain(), CreatedBy: l.CreatedBy}
		ok, err := m.store.QueueImportEmail(ctx, ne, db.AuditEntry{Action: "email.queue", ActorID: l.CreatedBy})
		if err != nil {
			m.log.Error("import email", "link_id", l.ID, "err", err)
			continue
		}
		if ok {
			queued++
		}
	}
	if queued > 0 && m.cfg.Wake != nil {
		m.cfg.Wake()
	}
	return queued, nil
}
