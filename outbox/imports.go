package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/mail"
)

// ImportEmailStore is the storage the import emails need. *db.Store
// implements it.
type ImportEmailStore interface {
	ImportEmailsDue(ctx context.Context, after int64, limit int, skipUsers []int64) ([]db.Link, error)
	QueueImportEmail(ctx context.Context, ne db.NewEmail, a db.AuditEntry) (bool, error)
	EmailTemplate(ctx context.Context, name string) (db.EmailTemplate, error)
	GetSettings(ctx context.Context) (db.Settings, error)
}

// ImportEmails queues, once each link of a bulk import is open, the
// email its row asked for ("email" yes): the first-email template staff
// send from a link's page, with the merchant's brand, through the outbox
// (sent after the commit, retried, checked against the link's status at
// send time, at most once per link), within the budget of the person who
// confirmed the import (SendBudget, the one staff pressing Send take
// from). An email the budget has no room for now is not queued: it waits,
// still due, for a later run.
type ImportEmails struct {
	store  ImportEmailStore
	cfg    ReminderConfig
	budget *SendBudget
	log    *slog.Logger
}

// NewImportEmails builds the job; cfg is the reminders' (sender, company
// name, money format, clock, wake); budget is the per-user budget the
// pages use (nil: one of DefaultSendBudget a minute, for tests).
func NewImportEmails(store ImportEmailStore, cfg ReminderConfig, budget *SendBudget) *ImportEmails {
	if budget == nil {
		budget = NewSendBudget(DefaultSendBudget)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Money == nil {
		cfg.Money = plainMoney
	}
	return &ImportEmails{store: store, cfg: cfg, budget: budget, log: cfg.Logger.With("component", "import-emails")}
}

// DefaultSendBudget is PAYLINKS_MAIL_RATE's default: customer emails
// each user may queue a minute.
const DefaultSendBudget = 60

// Job runs at start and every 5 s.
func (m *ImportEmails) Job() jobs.Job {
	return jobs.Job{Name: "import-emails", Interval: 5 * time.Second, AtStart: m.run, Run: m.run}
}

func (m *ImportEmails) run(ctx context.Context) error { _, err := m.RunOnce(ctx); return err }

// RunOnce queues the emails due now, as far as each confirming person's
// budget allows, and says how many. The others stay due: the next run
// (every 5 s) takes them as the budget refills.
func (m *ImportEmails) RunOnce(ctx context.Context) (int, error) {
	due, err := m.store.ImportEmailsDue(ctx, 0, importEmailPage, nil)
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
	var spent []int64 // people whose budget is used up: their emails wait
	for len(due) > 0 {
		for _, l := range due {
			if slices.Contains(spent, l.CreatedBy) || Blocker(l, now) != "" {
				continue
			}
			if !m.budget.Allow(l.CreatedBy, 1, now) {
				spent = append(spent, l.CreatedBy)
				m.log.Info("import emails wait for the sender's email budget", "user_id", l.CreatedBy, "per_minute", m.budget.PerMinute())
				continue
			}
			if m.queue(ctx, tpl, brand, l) {
				queued++
			}
		}
		if err := ctx.Err(); err != nil {
			break
		}
		if due, err = m.store.ImportEmailsDue(ctx, due[len(due)-1].ID, importEmailPage, spent); err != nil {
			break
		}
	}
	if queued > 0 && m.cfg.Wake != nil {
		m.cfg.Wake()
	}
	return queued, err
}

// importEmailPage is how many due import emails one query reads.
const importEmailPage = 200

// queue queues one link's import email; false when it was not (queued
// before, or the template could not be filled in: logged).
func (m *ImportEmails) queue(ctx context.Context, tpl *mail.Compiled, brand mail.Brand, l db.Link) bool {
	name := l.KYC["fullName"]
	if mail.CheckHeader(name, mail.MaxNameLength) != nil {
		name = ""
	}
	msg, err := tpl.Render(brand.Apply(mail.Data{CustomerName: name, CustomerID: l.CustomerID, CustomerEmail: l.CustomerEmail,
		Amount: m.cfg.Money(l.AmountMinor, l.Currency), Currency: l.Currency, Link: l.CheckoutURL,
		ExpiresAt: formatWhen(l.ExpiresAt), WebsiteReference: l.WebsiteReference}))
	if err != nil {
		m.log.Warn("import email: the template cannot be filled in", "link_id", l.ID, "err", err)
		return false
	}
	ne := db.NewEmail{LinkID: l.ID, FromAddr: m.cfg.From.Email, FromName: brand.SenderName(m.cfg.From, m.cfg.CompanyName),
		ToAddr: l.CustomerEmail, ToName: name, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML,
		MessageIDDomain: m.cfg.From.Domain(), CreatedBy: l.CreatedBy}
	ok, err := m.store.QueueImportEmail(ctx, ne, db.AuditEntry{Action: "email.queue", ActorID: l.CreatedBy})
	if err != nil {
		m.log.Error("import email", "link_id", l.ID, "err", err)
		return false
	}
	return ok
}
